//! `--help` of every command, as snapshots (flags, aliases and defaults are part of the contract).

use clap::CommandFactory;

fn help(path: &[&str]) -> String {
    let mut cmd = ciux::cli::Cli::command().term_width(100);
    cmd.build();
    let mut sub = &mut cmd;
    for name in path {
        sub = sub
            .find_subcommand_mut(name)
            .unwrap_or_else(|| panic!("no sub-command {name}"));
    }
    sub.render_long_help().to_string()
}

#[test]
fn help_of_every_command() {
    for path in [
        &[][..],
        &["ignite"],
        &["ignite", "env"],
        &["get"],
        &["get", "image"],
        &["get", "revision"],
        &["get", "dependencies"],
        &["get", "clustername"],
        &["get", "configpath"],
        &["tag"],
        &["image"],
        &["image", "load"],
        &["image", "cleanup"],
        &["image", "promote"],
    ] {
        let name = if path.is_empty() {
            "ciux".to_string()
        } else {
            format!("ciux_{}", path.join("_"))
        };
        harness::snapshot::insta::assert_snapshot!(name, help(path));
    }
}

#[test]
fn aliases_parse() {
    use clap::Parser;
    for argv in [
        &["ciux", "ig", "."][..],
        &[
            "ciux", "ign", "-l", "itest", "-b", "x", "-m", "-p", "s", "-t", "t", ".",
        ],
        &["ciux", "ignite", "env", "."],
        &["ciux", "get", "img", "-c", "-p", "x", "-t", "y", "-e", "."],
        &["ciux", "get", "rev", "-r", "."],
        &["ciux", "get", "deps", "-l", "release", "."],
        &["ciux", "get", "cn", "-l", "x", "."],
        &["ciux", "get", "cp", "-l", "x", "."],
        &[
            "ciux",
            "get",
            "configpath",
            "--selector",
            "x",
            ".",
            "-o",
            "json",
        ],
        &["ciux", "rel", ".", "extra"],
        &[
            "ciux", "image", "load", "-r", "r", "-i", "i", "-b", "true", "-a", "a",
        ],
        &["ciux", "image", "cleanup", "-p", "p", "-m", "5d"],
        &[
            "ciux",
            "-v",
            "2",
            "--dry-run",
            "image",
            "promote",
            "a:b",
            "c",
        ],
    ] {
        assert!(ciux::cli::Cli::try_parse_from(argv).is_ok(), "{argv:?}");
    }
}

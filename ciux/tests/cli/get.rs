//! `ciux get image | revision | configpath | clustername` and `ciux tag` end to end (spec §5.2 `_e2e`
//! scripts, project_test): real repositories, the Debian `docker-registry` on loopback.

use predicates::prelude::*;

use crate::support::{Registry, Repo, ciux, create_git_repo, stdout_of};

#[test]
fn get_imagetag() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let registry = format!("{}/test_org", reg.host());
    let dir = d.path().join("get_imagetag");
    let r = create_git_repo(&dir, &registry);
    let image = |check: bool| {
        let mut c = ciux();
        c.args(["get", "image"]).arg(&dir);
        if check {
            c.arg("--check");
        }
        stdout_of(&mut c)
    };
    assert_eq!(
        image(false),
        format!("Image: {registry}/get_imagetag:v1.0.0, in registry: false\n")
    );
    r.commit("hello2", &[("hello2.txt", "2")]);
    assert_eq!(
        image(false),
        format!(
            "Image: {registry}/get_imagetag:v1.0.0-1-g{}, in registry: false\n",
            r.short()
        )
    );
    r.commit("hello3", &[("rootfs/hello3.txt", "3")]);
    let expected = format!(
        "Image: {registry}/get_imagetag:v1.0.0-2-g{}, in registry: false\n",
        r.short()
    );
    assert_eq!(image(false), expected);
    assert_eq!(image(true), expected);
    // The alias and the --env form that build.sh evaluates.
    harness::assert_cli_snapshot!(
        "get_image_env",
        ciux()
            .args(["get", "img", "-c", "-e", "-p", "noscience"])
            .arg(&dir),
        [
            (r.short(), "[SHORT]"),
            (d.path().display().to_string(), "[DIR]")
        ]
    );
}

/// An image built at an older commit still holds the current sources: it is reused (oldest first).
#[test]
fn existing_image_of_an_older_commit_is_reused() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let registry = format!("{}/fink", reg.host());
    let dir = d.path().join("proj");
    let r = create_git_repo(&dir, &registry);
    r.commit("src", &[("rootfs/a", "1")]);
    let src_version = format!("v1.0.0-1-g{}", r.short());
    r.commit("doc", &[("README", "doc")]);
    let doc_version = format!("v1.0.0-2-g{}", r.short());
    reg.push_image("fink/proj", &doc_version);
    reg.push_image("fink/proj", &src_version);
    let out = stdout_of(ciux().args(["get", "image", "--check"]).arg(&dir));
    assert_eq!(
        out,
        format!("Image: {registry}/proj:{src_version}, in registry: true\n")
    );
    let env = stdout_of(
        ciux()
            .args(["get", "image", "--check", "--env", "-t", "tmp.io"])
            .arg(&dir),
    );
    assert_eq!(
        env,
        format!("export CIUX_IMAGE_URL={registry}/proj:{src_version}\nexport CIUX_BUILD=false\n")
    );
    let json: serde_json::Value = serde_json::from_str(&stdout_of(
        ciux().args(["get", "image", "-c", "-o", "json"]).arg(&dir),
    ))
    .unwrap();
    assert_eq!(json["in_registry"], true);
    assert_eq!(
        json["promoted_url"],
        format!("{registry}/proj:{doc_version}")
    );
}

#[test]
fn get_revision_isrelease() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let dir = d.path().join("get_revision");
    let r = create_git_repo(&dir, &format!("{}/x", reg.host()));
    assert_eq!(
        stdout_of(ciux().args(["get", "revision", "--isrelease"]).arg(&dir)),
        "v1.0.0\n"
    );
    let full = stdout_of(ciux().args(["get", "rev"]).arg(&dir));
    assert_eq!(
        full,
        format!(
            "Revision: &{{Tag:v1.0.0 Counter:0 Hash:{} Dirty:false Branch:master}}\n",
            r.head()
        )
    );
    r.commit("hello2", &[("hello2.txt", "2")]);
    assert_eq!(
        stdout_of(ciux().args(["get", "revision", "-r"]).arg(&dir)),
        ""
    );
    let json: serde_json::Value = serde_json::from_str(&stdout_of(
        ciux().args(["get", "revision", "-o", "json"]).arg(&dir),
    ))
    .unwrap();
    assert_eq!(json["counter"], 1);
    assert_eq!(json["version"], format!("v1.0.0-1-g{}", r.short()));
}

fn ciux_bin_dir() -> String {
    let bin = assert_cmd::cargo::cargo_bin("ciux");
    bin.parent().unwrap().display().to_string()
}

#[test]
fn get_configpath_and_the_helper_script() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let registry = format!("{}/test_org", reg.host());
    let dir = d.path().join("get_configpath");
    create_git_repo(&dir, &registry);
    ciux()
        .args(["ignite", "-l", "e2e"])
        .arg(&dir)
        .assert()
        .success();
    let path = stdout_of(ciux().args(["get", "configpath", "-l", "e2e"]).arg(&dir));
    assert_eq!(path, format!("{}/.ciux.d/ciux_e2e.sh\n", dir.display()));
    assert_eq!(
        stdout_of(ciux().args(["get", "cp", "-l", "e2e"]).arg(&dir)),
        path
    );
    let script = format!(
        "set -e\nSELECTOR=e2e . '{}/.ciux.d/ciuxconfig.sh'\necho \"ciuxconfig=$ciuxconfig\"\necho \"url=$CIUX_IMAGE_URL\"\n",
        dir.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .env(
            "PATH",
            format!("{}:{}", ciux_bin_dir(), std::env::var("PATH").unwrap()),
        )
        .env_remove("CIUXCONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "ciuxconfig={}/.ciux.d/ciux_e2e.sh\n",
            dir.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("url={registry}/get_configpath:v1.0.0\n")),
        "{stdout}"
    );
    // The helper returns instead of killing the sourcing shell.
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                ". '{}/.ciux.d/ciuxconfig.sh'; echo still-alive",
                dir.display()
            ),
        ])
        .env_remove("SELECTOR")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("still-alive"));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Selector environment variable ($SELECTOR) is required.")
    );
    // A selector never ignited has no file.
    ciux()
        .args(["get", "configpath", "-l", "ci"])
        .arg(&dir)
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "ciux configuration file not found at {}/.ciux.d/ciux_ci.sh",
            dir.display()
        )));
}

#[test]
fn selector_file_names_and_ciuxconfig_override() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let dir = d.path().join("names");
    create_git_repo(&dir, &format!("{}/o", reg.host()));
    for (sel, file) in [
        ("itest", "ciux_itest.sh"),
        ("itest,ci", "ciux_ci-itest.sh"),
        ("build=noscience", "ciux_build_noscience.sh"),
        ("a==b", "ciux_a__b.sh"),
        ("a in (y,x)", "ciux_a in (x-y).sh"),
    ] {
        ciux()
            .args(["ignite", "--selector", sel])
            .arg(&dir)
            .assert()
            .success();
        assert!(dir.join(".ciux.d").join(file).is_file(), "{sel} → {file}");
    }
    ciux()
        .args(["ignite", "--main", "-l", "itest"])
        .arg(&dir)
        .assert()
        .success();
    assert!(dir.join(".ciux.d/ciux_project_core.sh").is_file());
    let text = std::fs::read_to_string(dir.join(".ciux.d/ciux_project_core.sh")).unwrap();
    assert!(text.starts_with("# Label selector: project=core\n"));
    let custom = d.path().join("ciux.sh");
    ciux()
        .env("CIUXCONFIG", &custom)
        .args(["ignite", "--selector", "ci"])
        .arg(&dir)
        .assert()
        .success();
    assert!(
        std::fs::read_to_string(&custom)
            .unwrap()
            .starts_with("# Label selector: ci\n")
    );
    let path = stdout_of(
        ciux()
            .env("CIUXCONFIG", &custom)
            .args(["get", "configpath", "-l", "ci"])
            .arg(&dir),
    );
    assert_eq!(path, format!("{}\n", custom.display()));
    ciux()
        .args(["ignite", "--selector", "a in x"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains("unable to parse label selector"));
}

#[test]
fn clustername_and_tag() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("cn");
    let r = Repo::init(&dir);
    r.commit("c", &[(".ciux", "registry: r.io\n")]);
    let name = stdout_of(
        ciux()
            .env("USER", "fink-ci")
            .args(["get", "clustername"])
            .arg(&dir),
    );
    assert_eq!(name, format!("fink-ci-master-{}\n", &r.head()[..6]));
    let name = stdout_of(
        ciux()
            .env_remove("USER")
            .args(["get", "cn", "-l", "x"])
            .arg(&dir),
    );
    assert_eq!(name, format!("unknown-master-{}\n", &r.head()[..6]));
    assert_eq!(
        stdout_of(ciux().args(["tag"]).arg(&dir)),
        "git tag -m \"Release v0.0.1-rc0\" v0.0.1-rc0\ngit push --tag\n"
    );
    r.annotated("v1.0.0");
    assert_eq!(
        stdout_of(ciux().args(["rel"]).arg(&dir).arg("ignored")),
        "git tag -m \"Release v1.0.1-rc0\" v1.0.1-rc0\ngit push --tag\n"
    );
    r.commit("c2", &[]);
    r.annotated("v1.0.1-rc3");
    assert_eq!(
        stdout_of(ciux().args(["tag"]).arg(&dir)),
        "git tag -m \"Release v1.0.1-rc4\" v1.0.1-rc4\ngit push --tag\n"
    );
    r.commit("c3", &[]);
    r.annotated("v1.0.2-beta");
    ciux()
        .args(["tag"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains("invalid release candidate prefix"));
}

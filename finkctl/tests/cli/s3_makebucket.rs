//! `finkctl s3 makebucket` against a real S3-compatible server on loopback: moto in server mode
//! (`python3 -m moto.server`, installed by `.ci/run`). Object lock is checked with boto3.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

use crate::support::{self, write_sample_config};

/// A moto server on 127.0.0.1, killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = StdCommand::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (run .ci/run to install moto)");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, port }
    }

    /// `ObjectLockEnabled` of `bucket`, read with boto3 (GetObjectLockConfiguration).
    fn object_lock(&self, bucket: &str) -> String {
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='http://127.0.0.1:{}', aws_access_key_id='minioadmin', aws_secret_access_key='minioadmin', region_name='us-east-1')\nprint(s3.get_object_lock_configuration(Bucket='{bucket}')['ObjectLockConfiguration']['ObjectLockEnabled'])",
            self.port
        );
        let out = StdCommand::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn finkctl(config_dir: &Path) -> Command {
    let mut cmd = support::finkctl(config_dir);
    cmd.env("FINKCONFIG", config_dir)
        .env("KUBECONFIG", config_dir.join("no-kubeconfig-needed"));
    cmd
}

fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_sample_config(dir.path(), |c| c);
    dir
}

#[test]
fn makebucket_creates_the_bucket_with_object_lock_then_reports_it_exists() {
    let moto = Moto::start();
    let dir = config_dir();
    let endpoint = format!("--endpoint=127.0.0.1:{}", moto.port);
    finkctl(dir.path())
        .args([endpoint.as_str(), "s3", "makebucket", "-N", "20000101"])
        .assert()
        .success()
        .stdout("Create S3 bucket for Fink broker\n");
    assert_eq!(moto.object_lock("fink-broker-online-20000101"), "Enabled");

    // Second time: the bucket is listed in Go's struct format and left alone, with a warning.
    let scheme_endpoint = format!("http://127.0.0.1:{}/", moto.port);
    finkctl(dir.path())
        .args(["s3", "mb", "--endpoint", &scheme_endpoint, "-N", "20000101"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(
            r"^Create S3 bucket for Fink broker\n\{fink-broker-online-20000101 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC\}\n$",
        )
        .unwrap())
        .stderr(predicate::str::contains("Bucket exists"));
}

#[test]
fn makebucket_dry_run_touches_nothing() {
    let moto = Moto::start();
    let dir = config_dir();
    let endpoint = format!("--endpoint=127.0.0.1:{}", moto.port);
    finkctl(dir.path())
        .args([endpoint.as_str(), "s3", "makebucket", "-N", "20000102", "--dry-run"])
        .assert()
        .success()
        .stdout(format!(
            "Create S3 bucket for Fink broker\nwould create bucket fink-broker-online-20000102 with object lock at http://127.0.0.1:{} (dry run)\n",
            moto.port
        ));
    let buckets = StdCommand::new("python3")
        .args([
            "-c",
            &format!("import boto3\nprint(len(boto3.client('s3', endpoint_url='http://127.0.0.1:{}', aws_access_key_id='a', aws_secret_access_key='b', region_name='us-east-1').list_buckets()['Buckets']))", moto.port),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&buckets.stdout).trim(), "0");
}

#[test]
fn unreachable_endpoint_is_a_clear_error() {
    let dir = config_dir();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    finkctl(dir.path())
        .args([
            "s3",
            "makebucket",
            "-N",
            "20000101",
            &format!("--endpoint=127.0.0.1:{port}"),
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(format!(
            "error: S3 request GET http://127.0.0.1:{port}/ failed"
        )));
}

#[test]
fn bad_bucket_names_and_endpoints_fail_alike_in_dry_and_real_runs() {
    // Nothing listens on this port: a real run that got as far as a request would say so.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bad_bucket = tempfile::tempdir().unwrap();
    write_sample_config(bad_bucket.path(), |c| {
        c.replace(
            "bucket: fink-broker-online-{{.Night}}",
            "bucket: Bad_Bucket/../x",
        )
    });
    let good = config_dir();
    let endpoint = format!("--endpoint=127.0.0.1:{port}");
    let cases: [(&Path, &str, &str); 4] = [
        (
            bad_bucket.path(),
            endpoint.as_str(),
            "error: invalid S3 bucket name \"Bad_Bucket/../x\" (from s3.bucket): only lower-case letters, digits, dots and hyphens are allowed\n",
        ),
        (
            good.path(),
            "--endpoint=127.0.0.1:99999",
            "error: S3 endpoint \"127.0.0.1:99999\" is not a valid host[:port]: invalid port number\n",
        ),
        (
            good.path(),
            "--endpoint=http://bad host:9000",
            "error: S3 endpoint \"http://bad host:9000\" is not a valid host[:port]: invalid international domain name\n",
        ),
        (
            good.path(),
            "--endpoint=minio:minio123@127.0.0.1:9000",
            "error: S3 endpoint \"minio:minio123@127.0.0.1:9000\": credentials do not belong in the endpoint, set s3.id and s3.secret\n",
        ),
    ];
    for (dir, endpoint, error) in cases {
        for dry_run in [true, false] {
            let mut cmd = finkctl(dir);
            cmd.args(["s3", "makebucket", "-N", "20000101", endpoint]);
            if dry_run {
                cmd.arg("--dry-run");
            }
            cmd.assert()
                .code(1)
                .stdout("Create S3 bucket for Fink broker\n")
                .stderr(error);
        }
    }
}

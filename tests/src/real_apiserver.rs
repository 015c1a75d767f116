//! A real Kubernetes API server for the tests (envtest style): etcd, kube-apiserver 1.20 and
//! kube-controller-manager on loopback, with TLS from a throw-away CA, a bearer token and RBAC.
//!
//! One server serves every test of a test binary, across the processes nextest starts: a small
//! supervisor process (`kube-supervisor`, a binary of this package) owns etcd, the API server and
//! the controller-manager, and listens on a unix socket in a directory keyed by the test binary.
//! Each test process connects once ([`RealApiServer::shared`]) and keeps the connection for its
//! life; the supervisor stops everything when no process has been connected for [`IDLE_GRACE`]
//! (so it outlives the short gaps between nextest's test processes, and never the test run).
//!
//! Each test takes a fresh namespace ([`RealApiServer::namespace`]) with its own kubeconfig. The
//! controller-manager runs from the start: under the default admission plugins a pod needs its
//! ServiceAccount's token, which the controller-manager makes (it also finishes namespace
//! deletion, garbage-collects and turns Deployments into ReplicaSets and pods). No kubelet runs:
//! [`crate::kubelet`] moves pods along on request.
//!
//! When the binaries are absent ([`crate::kube_bin::find`]), [`RealApiServer::shared`] returns
//! the reason, and the tests skip with it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::{Deserialize, Serialize};

use crate::kube_bin::{self, KubeBinaries};
use crate::net::{free_port, wait_for_port};

/// How long the supervisor keeps the servers without any connected test process.
pub const IDLE_GRACE: Duration = Duration::from_secs(5);

/// How long the servers may take to be ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Controllers that need parts this cluster lacks (nodes, clouds, volumes, service IPs).
const CONTROLLERS: &str = "*,-nodeipam,-nodelifecycle,-attachdetach,-persistentvolume-binder,-persistentvolume-expander,-cloud-node-lifecycle,-route,-service";

/// What a test process needs to reach the server (the supervisor's answer on the socket).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Endpoint {
    url: String,
    ca: PathBuf,
    token: String,
}

/// A running real API server shared by the test processes of one test binary.
#[derive(Debug)]
pub struct RealApiServer {
    endpoint: Endpoint,
    /// The supervisor counts this connection as a user until the process exits.
    _connection: UnixStream,
}

impl RealApiServer {
    /// The server of this test binary, started by the first caller (about 4 s), or why there is
    /// none (the binaries are not built: the caller skips with this reason).
    ///
    /// `supervisor` is the `kube-supervisor` executable (`env!("CARGO_BIN_EXE_kube-supervisor")`).
    ///
    /// # Panics
    /// If the binaries exist but the server does not start: that is a failure, not a skip.
    pub fn shared(supervisor: &Path) -> Result<&'static RealApiServer, String> {
        static SERVER: OnceLock<Result<RealApiServer, String>> = OnceLock::new();
        SERVER
            .get_or_init(|| {
                kube_bin::find()?;
                Ok(RealApiServer::connect(supervisor)
                    .unwrap_or_else(|err| panic!("starting the real API server: {err}")))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Connects to this binary's supervisor, starting one if none runs.
    fn connect(supervisor: &Path) -> Result<RealApiServer, String> {
        let dir = state_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|err| format!("creating {}: {err}", dir.display()))?;
        // The lock orders starts and hand-shakes against the supervisor's decision to stop.
        let lock = std::fs::File::create(dir.join("lock")).map_err(|err| err.to_string())?;
        lock.lock()
            .map_err(|err| format!("locking {}: {err}", dir.display()))?;
        let socket = dir.join("socket");
        let stream = match UnixStream::connect(&socket) {
            Ok(stream) => stream,
            Err(_) => {
                let _ = std::fs::remove_file(&socket);
                start_supervisor(supervisor, &dir)?;
                UnixStream::connect(&socket)
                    .map_err(|err| format!("connecting to {}: {err}", socket.display()))?
            }
        };
        let endpoint = handshake(&stream)?;
        drop(lock);
        Ok(RealApiServer {
            endpoint,
            _connection: stream,
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.endpoint.url
    }

    /// The CA certificate (PEM) that signed the server's certificate.
    pub fn ca_certificate(&self) -> &Path {
        &self.endpoint.ca
    }

    /// Writes a kubeconfig for this server (cluster, user and context `real`: the CA, an admin
    /// bearer token) with this default namespace.
    pub fn write_kubeconfig(&self, path: &Path, namespace: &str) -> std::io::Result<()> {
        self.write_kubeconfig_named(path, "real", namespace)
    }

    /// [`write_kubeconfig`](Self::write_kubeconfig) with cluster, user and context named `name`
    /// (`kind-<cluster>`, as `kind create cluster` writes it).
    pub fn write_kubeconfig_named(
        &self,
        path: &Path,
        name: &str,
        namespace: &str,
    ) -> std::io::Result<()> {
        write_kubeconfig(path, &self.endpoint, name, namespace)
    }

    /// A kube client for this server with this default namespace.
    pub async fn client(&self, namespace: &str) -> kube::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("config");
        self.write_kubeconfig(&path, namespace)
            .expect("writing a kubeconfig");
        let kubeconfig = Kubeconfig::read_from(&path).expect("reading the kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("kube config from the kubeconfig");
        kube::Client::try_from(config).expect("kube client")
    }

    /// A fresh namespace (`t-<random>`) whose `default` ServiceAccount has its token, so pods
    /// can be created in it at once, with a kubeconfig defaulting to it.
    pub async fn namespace(&self) -> TestNamespace {
        let client = self.client("default").await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let created = namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(serde_json::json!({
                    "metadata": {"generateName": "t-"},
                }))
                .expect("a namespace"),
            )
            .await
            .expect("creating a test namespace");
        let name = created.metadata.name.expect("a generated name");
        let accounts: Api<ServiceAccount> = Api::namespaced(client, &name);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = accounts
                .get_opt("default")
                .await
                .ok()
                .flatten()
                .is_some_and(|sa| sa.secrets.is_some_and(|secrets| !secrets.is_empty()));
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the controller-manager made no token for {name}/default within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let kubeconfig = dir.path().join("kubeconfig");
        self.write_kubeconfig(&kubeconfig, &name)
            .expect("writing a kubeconfig");
        TestNamespace {
            name,
            kubeconfig,
            _dir: dir,
        }
    }
}

/// A namespace of one test and a kubeconfig whose context defaults to it.
#[derive(Debug)]
pub struct TestNamespace {
    /// The namespace's name.
    pub name: String,
    /// A kubeconfig file (context `real`) with this namespace as default.
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

/// `$TMPDIR/fink-kube-<hash of the test executable>`: one server per test binary.
fn state_dir() -> PathBuf {
    use sha2::Digest as _;
    let exe = std::env::current_exe().unwrap_or_default();
    let digest = sha2::Sha256::digest(exe.as_os_str().as_encoded_bytes());
    std::env::temp_dir().join(format!("fink-kube-{}", &hex::encode(digest)[..16]))
}

/// Starts the supervisor for `dir` and waits for its `ready` line.
fn start_supervisor(supervisor: &Path, dir: &Path) -> Result<(), String> {
    let log = dir.join("supervisor.log");
    let stderr = std::fs::File::create(&log).map_err(|err| err.to_string())?;
    let mut child = Command::new(supervisor)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        // Its own process group: a Ctrl-C of the test run reaches the test processes, whose
        // connections then close, and the supervisor stops after the grace period.
        .process_group(0)
        .spawn()
        .map_err(|err| format!("running {}: {err}", supervisor.display()))?;
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    let _ = BufReader::new(stdout).read_line(&mut line);
    if line.trim() != "ready" {
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!(
            "the supervisor did not start the servers; its log ({}):\n{text}",
            log.display()
        ));
    }
    Ok(())
}

/// Says hello on the socket and reads the endpoint line.
fn handshake(stream: &UnixStream) -> Result<Endpoint, String> {
    let mut writer = stream;
    writer
        .write_all(b"hello\n")
        .map_err(|err| format!("talking to the supervisor: {err}"))?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|err| format!("reading from the supervisor: {err}"))?;
    serde_json::from_str(&line).map_err(|err| format!("the supervisor answered {line:?}: {err}"))
}

/// Writes a kubeconfig with one cluster, user and context named `name`.
fn write_kubeconfig(
    path: &Path,
    endpoint: &Endpoint,
    name: &str,
    namespace: &str,
) -> std::io::Result<()> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {url}\n    certificate-authority: {ca}\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: {namespace}\ncurrent-context: {name}\nusers:\n- name: {name}\n  user:\n    token: {token}\npreferences: {{}}\n",
        url = endpoint.url,
        ca = endpoint.ca.display(),
        token = endpoint.token,
    );
    std::fs::write(path, text)
}

/// The supervisor's body (`kube-supervisor <state dir>`): starts the servers, prints `ready`,
/// answers each connection with the endpoint, and stops everything once no test process has been
/// connected for [`IDLE_GRACE`] or when one of the servers dies.
pub fn supervise(dir: &Path) -> Result<(), String> {
    let binaries = kube_bin::find()?;
    let run = dir.join(format!("run-{}", std::process::id()));
    std::fs::create_dir_all(&run).map_err(|err| format!("creating {}: {err}", run.display()))?;
    let mut cluster = Cluster::start(&binaries, &run).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&run);
    })?;
    let endpoint = cluster.endpoint.clone();
    let socket = dir.join("socket");
    let listener = UnixListener::bind(&socket)
        .map_err(|err| format!("binding {}: {err}", socket.display()))?;
    let users = Arc::new(AtomicUsize::new(0));
    let idle_since = Arc::new(Mutex::new(Instant::now()));
    {
        let users = users.clone();
        let idle_since = idle_since.clone();
        let answer = serde_json::to_string(&endpoint).expect("endpoint JSON") + "\n";
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let users = users.clone();
                let idle_since = idle_since.clone();
                let answer = answer.clone();
                users.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    serve_user(stream, &answer);
                    *idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                    users.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    let lock = std::fs::File::create(dir.join("lock")).map_err(|err| err.to_string())?;
    let outcome = loop {
        std::thread::sleep(Duration::from_millis(100));
        if let Some(died) = cluster.died() {
            break Err(died);
        }
        let idle = idle_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed();
        if users.load(Ordering::SeqCst) == 0 && idle >= IDLE_GRACE && lock.try_lock().is_ok() {
            // No test process is between connecting and its hand-shake (they hold the lock):
            // with the socket gone, the next one starts a new supervisor.
            if users.load(Ordering::SeqCst) == 0 {
                let _ = std::fs::remove_file(&socket);
                break Ok(());
            }
            let _ = lock.unlock();
        }
    };
    cluster.stop();
    let _ = std::fs::remove_dir_all(&run);
    if outcome.is_err() {
        let _ = std::fs::remove_file(&socket);
    }
    outcome
}

/// Answers `hello` with the endpoint, then waits for the connection to close.
fn serve_user(stream: UnixStream, answer: &str) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.trim() != "hello" {
        return;
    }
    let mut writer = &stream;
    if writer.write_all(answer.as_bytes()).is_err() {
        return;
    }
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut reader, &mut rest);
}

/// The three server processes.
struct Cluster {
    endpoint: Endpoint,
    children: Vec<(&'static str, Child)>,
    etcd_data: PathBuf,
    /// Certificates, tokens and the servers' logs.
    run: PathBuf,
}

impl Cluster {
    /// Makes the certificates, keys and tokens in `run`, starts etcd, kube-apiserver (waits for
    /// `/readyz`) and kube-controller-manager.
    fn start(binaries: &KubeBinaries, run: &Path) -> Result<Cluster, String> {
        let started = Instant::now();
        let ca = make_certificates(run)?;
        let token = random_token()?;
        let manager_token = random_token()?;
        std::fs::write(
            run.join("tokens.csv"),
            format!(
                "{token},admin,admin,\"system:masters\"\n{manager_token},system:kube-controller-manager,kube-controller-manager\n"
            ),
        )
        .map_err(|err| err.to_string())?;
        // etcd's data on tmpfs when there is one: it fsyncs on every write.
        let shm = Path::new("/dev/shm");
        let etcd_data = if shm.is_dir() {
            shm.join(format!("fink-kube-etcd-{}", std::process::id()))
        } else {
            run.join("etcd")
        };
        let mut cluster = Cluster {
            endpoint: Endpoint {
                url: String::new(),
                ca,
                token,
            },
            children: Vec::new(),
            etcd_data,
            run: run.to_path_buf(),
        };
        let result = cluster.start_processes(binaries, run, &manager_token);
        match result {
            Ok(()) => {
                eprintln!(
                    "kube-supervisor: ready at {} in {:.1} s",
                    cluster.endpoint.url,
                    started.elapsed().as_secs_f64()
                );
                Ok(cluster)
            }
            Err(err) => {
                cluster.stop();
                Err(err)
            }
        }
    }

    fn start_processes(
        &mut self,
        binaries: &KubeBinaries,
        run: &Path,
        manager_token: &str,
    ) -> Result<(), String> {
        let etcd_port = free_port();
        let etcd_peer_port = free_port();
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer_port}");
        self.spawn(
            "etcd",
            Command::new(&binaries.etcd)
                .arg("--name=test")
                .arg(format!("--data-dir={}", self.etcd_data.display()))
                .arg(format!("--listen-client-urls={etcd_url}"))
                .arg(format!("--advertise-client-urls={etcd_url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster=test={peer_url}"))
                .arg("--log-level=warn"),
            run,
        )?;
        wait_for_port(
            format!("127.0.0.1:{etcd_port}").parse().expect("address"),
            START_TIMEOUT,
        )
        .map_err(|err| format!("etcd: {err}"))?;
        let port = free_port();
        self.endpoint.url = format!("https://127.0.0.1:{port}");
        let file = |name: &str| run.join(name).display().to_string();
        self.spawn(
            "kube-apiserver",
            Command::new(&binaries.apiserver)
                .arg(format!("--etcd-servers={etcd_url}"))
                .args(["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"])
                .arg(format!("--secure-port={port}"))
                .arg("--insecure-port=0")
                .arg(format!("--tls-cert-file={}", file("server.crt")))
                .arg(format!("--tls-private-key-file={}", file("server.key")))
                .arg(format!("--client-ca-file={}", file("ca.crt")))
                .arg(format!("--token-auth-file={}", file("tokens.csv")))
                .arg("--authorization-mode=RBAC")
                .arg(format!("--service-account-key-file={}", file("sa.pub")))
                .arg(format!(
                    "--service-account-signing-key-file={}",
                    file("sa.key")
                ))
                .arg("--service-account-issuer=https://kubernetes.default.svc")
                .arg("--service-cluster-ip-range=10.96.0.0/16")
                .arg("--enable-priority-and-fairness=false")
                .arg(format!("--cert-dir={}", file("certs")))
                .arg("--v=0"),
            run,
        )?;
        self.wait_ready()?;
        let manager_kubeconfig = run.join("controller-manager.kubeconfig");
        write_kubeconfig(
            &manager_kubeconfig,
            &Endpoint {
                token: manager_token.to_string(),
                ..self.endpoint.clone()
            },
            "real",
            "kube-system",
        )
        .map_err(|err| err.to_string())?;
        self.spawn(
            "kube-controller-manager",
            Command::new(&binaries.controller_manager)
                .arg(format!("--kubeconfig={}", manager_kubeconfig.display()))
                .args(["--leader-elect=false", "--secure-port=0", "--port=0"])
                .arg("--use-service-account-credentials=true")
                .arg(format!(
                    "--service-account-private-key-file={}",
                    file("sa.key")
                ))
                .arg(format!("--root-ca-file={}", file("ca.crt")))
                .arg(format!("--controllers={CONTROLLERS}"))
                .arg("--v=0"),
            run,
        )
    }

    /// Starts `name` with its output in `<run>/<name>.log`.
    fn spawn(
        &mut self,
        name: &'static str,
        command: &mut Command,
        run: &Path,
    ) -> Result<(), String> {
        let log = std::fs::File::create(run.join(format!("{name}.log")))
            .map_err(|err| err.to_string())?;
        let err_log = log.try_clone().map_err(|err| err.to_string())?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|err| format!("running {name}: {err}"))?;
        self.children.push((name, child));
        Ok(())
    }

    /// Polls `/readyz` with the admin token until it answers 200.
    fn wait_ready(&mut self) -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| err.to_string())?;
        let deadline = Instant::now() + START_TIMEOUT;
        let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
        let kubeconfig = dir.path().join("config");
        write_kubeconfig(&kubeconfig, &self.endpoint, "real", "default")
            .map_err(|err| err.to_string())?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = runtime.block_on(async {
            let kubeconfig = Kubeconfig::read_from(&kubeconfig).map_err(|err| err.to_string())?;
            let config =
                kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(|err| err.to_string())?;
            kube::Client::try_from(config).map_err(|err| err.to_string())
        })?;
        loop {
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .expect("a request");
            let answer = runtime.block_on(client.request_text(request));
            if answer.is_ok_and(|text| text.trim() == "ok") {
                return Ok(());
            }
            if let Some(died) = self.died() {
                return Err(died);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "kube-apiserver was not ready within {START_TIMEOUT:?}; the end of its log:\n{}",
                    self.log_tail("kube-apiserver")
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Which server exited, with the end of its log, if one did.
    fn died(&mut self) -> Option<String> {
        let (name, status) = self.children.iter_mut().find_map(|(name, child)| {
            child
                .try_wait()
                .ok()
                .flatten()
                .map(|status| (*name, status))
        })?;
        Some(format!(
            "{name} exited ({status}); the end of its log:\n{}",
            self.log_tail(name)
        ))
    }

    /// The last 20 lines of `<run>/<name>.log`.
    fn log_tail(&self, name: &str) -> String {
        let text =
            std::fs::read_to_string(self.run.join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Kills the servers (controller-manager first) and removes etcd's data.
    fn stop(mut self) {
        while let Some((_, mut child)) = self.children.pop() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.etcd_data);
    }
}

/// Writes a CA (`ca.crt`, `ca.key`), the API server's certificate for `127.0.0.1` signed by it
/// (`server.crt`, `server.key`) and the ServiceAccount signing key pair (`sa.key`, `sa.pub`) in
/// `run`; returns the CA certificate's path.
fn make_certificates(run: &Path) -> Result<PathBuf, String> {
    let ca = run.join("ca.crt");
    crate::tls::self_signed_certificate(
        &run.join("ca.key"),
        &ca,
        &[
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-subj",
            "/CN=fink-tools test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let extensions = run.join("server.ext");
    std::fs::write(
        &extensions,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|err| err.to_string())?;
    let file = |name: &str| run.join(name);
    openssl(&[
        "req".as_ref(),
        "-new".as_ref(),
        "-nodes".as_ref(),
        "-newkey".as_ref(),
        "ec".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:prime256v1".as_ref(),
        "-subj".as_ref(),
        "/CN=kube-apiserver".as_ref(),
        "-keyout".as_ref(),
        file("server.key").as_os_str(),
        "-out".as_ref(),
        file("server.csr").as_os_str(),
    ])?;
    openssl(&[
        "x509".as_ref(),
        "-req".as_ref(),
        "-days".as_ref(),
        "2".as_ref(),
        "-in".as_ref(),
        file("server.csr").as_os_str(),
        "-CA".as_ref(),
        ca.as_os_str(),
        "-CAkey".as_ref(),
        file("ca.key").as_os_str(),
        "-CAcreateserial".as_ref(),
        "-extfile".as_ref(),
        extensions.as_os_str(),
        "-out".as_ref(),
        file("server.crt").as_os_str(),
    ])?;
    openssl(&[
        "genrsa".as_ref(),
        "-out".as_ref(),
        file("sa.key").as_os_str(),
        "2048".as_ref(),
    ])?;
    openssl(&[
        "rsa".as_ref(),
        "-in".as_ref(),
        file("sa.key").as_os_str(),
        "-pubout".as_ref(),
        "-out".as_ref(),
        file("sa.pub").as_os_str(),
    ])?;
    Ok(ca)
}

/// `openssl <args>`, failing with its stderr.
fn openssl(args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let output = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("running openssl: {err} (install the Debian package openssl)"))?;
    if !output.status.success() {
        return Err(format!(
            "openssl {:?} failed: {}",
            args.first(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// 32 random hex digits from `/dev/urandom`.
fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").map_err(|err| err.to_string())?,
        &mut bytes,
    )
    .map_err(|err| err.to_string())?;
    Ok(hex::encode(bytes))
}

//! A private PostgreSQL server for one test: Debian's `postgresql` (installed by `./x setup`),
//! started with its own data folder in a temp dir, listening only on a Unix socket in that temp
//! dir (never on TCP), `fsync=on`, and stopped when dropped.
//!
//! `initdb` refuses to run as root, which CI is: the server then runs as the `postgres` user
//! (`runuser`), with the data folder chowned to it. Uses only `std` and `tempfile`, so crates'
//! own tests can include it with `#[path]`.
//!
//! The tests run wherever PostgreSQL is installed; `BATON_TEST_NO_POSTGRES=1` is the only way to
//! skip them (said loudly on stderr). A machine without PostgreSQL and without that variable
//! fails the test, naming `./x setup`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Pg {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    data: PathBuf,
    /// The folder holding the server's socket (`.s.PGSQL.5432`).
    pub socket_dir: PathBuf,
    log: PathBuf,
    as_postgres: bool,
    /// Also listening on `localhost:<port>` with TLS ([`Pg::start_tls`]); else the socket only.
    tls_port: Option<u16>,
}

/// Where Debian keeps the server binaries: the newest `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p)
}

fn is_root() -> bool {
    // No libc dependency here: the effective uid from /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        })
        .is_some_and(|uid| uid == "0")
}

impl Pg {
    /// Starts a server, or `None` when `BATON_TEST_NO_POSTGRES=1` opts out. Panics (naming the
    /// fix) when PostgreSQL is missing: in CI `./x setup` installs it, so its tests must run.
    pub fn start() -> Option<Pg> {
        Pg::start_inner(None)
    }

    /// Starts a server that also listens on `localhost` (TCP, a free port) with `ssl=on` and
    /// the given certificate chain and key (PEM), which become the data folder's `server.crt`
    /// and `server.key`. The Unix socket stays as in [`Pg::start`].
    pub fn start_tls(cert_pem: &[u8], key_pem: &[u8]) -> Option<Pg> {
        Pg::start_inner(Some((cert_pem, key_pem)))
    }

    /// The TCP port of a server started with [`Pg::start_tls`].
    pub fn tls_port(&self) -> u16 {
        self.tls_port.expect("a server started with Pg::start_tls")
    }

    fn start_inner(tls: Option<(&[u8], &[u8])>) -> Option<Pg> {
        if std::env::var_os("BATON_TEST_NO_POSTGRES").is_some_and(|v| v == "1") {
            eprintln!("\n*** SKIPPED: BATON_TEST_NO_POSTGRES=1, this PostgreSQL test did not run ***\n");
            return None;
        }
        let bin = bin_dir().expect(
            "PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb): run `./x setup` \
             (or set BATON_TEST_NO_POSTGRES=1 to skip the PostgreSQL tests, loudly)",
        );
        let dir = tempfile::Builder::new().prefix("baton-pg-").tempdir().unwrap();
        let as_postgres = is_root();
        let data = dir.path().join("data");
        let socket_dir = dir.path().join("sock");
        let log = dir.path().join("server.log");
        for d in [&data, &socket_dir] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(&log, "").unwrap();
        if as_postgres {
            use std::os::unix::fs::PermissionsExt;
            // The server user must reach its folders through the temp dir.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let st = Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(&data)
                .arg(&socket_dir)
                .arg(&log)
                .status()
                .unwrap();
            assert!(st.success(), "chown to postgres failed");
        }
        let tls_port = tls.map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
        let pg = Pg { _dir: dir, bin, data, socket_dir, log, as_postgres, tls_port };
        let out = pg.tool(
            "initdb",
            &[
                "-D",
                &pg.data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        if let Some((cert, key)) = tls {
            use std::os::unix::fs::PermissionsExt;
            for (name, bytes) in [("server.crt", cert), ("server.key", key)] {
                let path = pg.data.join(name);
                std::fs::write(&path, bytes).unwrap();
                // The server refuses a key readable by others.
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
                if as_postgres {
                    assert!(Command::new("chown").arg("postgres:postgres").arg(&path).status().unwrap().success());
                }
            }
        }
        pg.start_server();
        Some(pg)
    }

    /// Runs one of the server's tools, as `postgres` when this process is root.
    fn tool(&self, name: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(name);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.args(args).env_remove("PGHOST").env_remove("PGDATABASE").env_remove("PGUSER");
        c.output().unwrap()
    }

    fn start_server(&self) {
        let mut opts = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c fsync=on -c max_connections=200 -c shared_buffers=32MB",
            self.socket_dir.display()
        );
        if let Some(port) = self.tls_port {
            opts =
                opts.replace("listen_addresses=''", &format!("listen_addresses='localhost' -c port={port} -c ssl=on"));
        }
        let out = self.tool(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-l",
                &self.log.display().to_string(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.server_log()
        );
        self.wait_ready(Duration::from_secs(30));
    }

    fn wait_ready(&self, limit: Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            let out = self.tool(
                "pg_isready",
                &["-h", &self.socket_dir.display().to_string(), "-p", &self.port(), "-U", "postgres"],
            );
            if out.status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("PostgreSQL did not become ready: {}", self.server_log());
    }

    /// Stops the server (fast shutdown: sessions are cut, as in a restart or a crash of the
    /// network), leaving its data.
    pub fn stop(&self) {
        let out = self.tool("pg_ctl", &["-D", &self.data.display().to_string(), "-m", "fast", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts the server again after [`Pg::stop`].
    pub fn start_again(&self) {
        self.start_server();
    }

    /// Creates a database (a test's own, so tests can share one server).
    pub fn create_db(&self, name: &str) {
        let out = self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        assert!(out.status.success(), "CREATE DATABASE failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Runs SQL with `psql` on database `db`.
    pub fn psql(&self, db: &str, sql: &str) -> Output {
        self.tool(
            "psql",
            &[
                "-h",
                &self.socket_dir.display().to_string(),
                "-p",
                &self.port(),
                "-U",
                "postgres",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtc",
                sql,
            ],
        )
    }

    /// A `postgres://` URL for database `db` over the Unix socket (no password: trust auth).
    pub fn url(&self, db: &str) -> String {
        match self.tls_port {
            None => format!("postgres://postgres@/{db}?host={}", self.socket_dir.display()),
            Some(port) => format!("postgres://postgres@/{db}?host={}&port={port}", self.socket_dir.display()),
        }
    }

    /// The port the server's socket is named after (`.s.PGSQL.<port>`).
    fn port(&self) -> String {
        self.tls_port.unwrap_or(5432).to_string()
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

/// Every process of a [`Pg`] server stopped (`SIGSTOP`) while this lives: the server keeps its
/// connections and its listening socket, and answers nothing, as a wedged or overloaded server
/// does; it answers again (`SIGCONT`) when this is dropped, however the test ends.
pub struct Stalled {
    pids: Vec<String>,
}

impl Pg {
    /// Stops the server's every process until the answer is dropped: the postmaster (the
    /// first line of its data folder's `postmaster.pid`) first, so that it starts no session
    /// meanwhile, then its children (`pgrep -P`).
    pub fn stall(&self) -> Stalled {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid")).unwrap();
        let main = pid_file.lines().next().unwrap_or_default().trim().to_string();
        let stop = |pids: &[String]| Command::new("kill").arg("-STOP").args(pids).status().unwrap().success();
        let mut stalled = Stalled { pids: vec![main.clone()] };
        assert!(stop(&stalled.pids), "kill -STOP {main} (the postmaster)");
        let out = Command::new("pgrep").arg("-P").arg(&main).output().unwrap();
        let children: Vec<String> =
            String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect();
        assert!(!children.is_empty(), "the server has its background processes (pgrep -P {main})");
        // A session's process may end between the listing and the signal (its client left):
        // the others are stopped all the same.
        stop(&children);
        stalled.pids.extend(children);
        stalled
    }
}

impl Drop for Stalled {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-CONT").args(&self.pids).status();
    }
}

impl Pg {
    /// Stops the server, ignoring failure, and removes its temp dir: for a server kept in a
    /// `static` (never dropped), called from an exit hook.
    pub fn shutdown(&self) {
        let _ = self.tool("pg_ctl", &["-D", &self.data.display().to_string(), "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(self._dir.path());
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self.tool("pg_ctl", &["-D", &self.data.display().to_string(), "-m", "fast", "-w", "stop"]);
    }
}

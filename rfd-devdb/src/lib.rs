//! A real PostgreSQL for tests and the demo.
//!
//! [`server`] finds a running PostgreSQL (`DATABASE_URL`, else the local default) or, when
//! nothing answers, starts a private cluster from the installed binaries under
//! `target/rfd-pg/shared` and reuses it across test binaries and runs. [`test_database`]
//! hands every test its own database, cloned from a template that was migrated once per
//! migration set. [`Cluster::start_private`] gives a test a cluster of its own that it may
//! stop and start (to see what the platform does while the database is down).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio_postgres::NoTls;

/// Where tests and tools look for PostgreSQL when `DATABASE_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Serialises template creation across processes ("RFD_TMPL").
const TEMPLATE_LOCK_KEY: i64 = 0x5246_445f_544d_504c;

/// Why no database could be had.
#[derive(Debug, thiserror::Error)]
pub enum DevDbError {
    /// Nothing answered and no PostgreSQL binaries were found to start a cluster.
    #[error(
        "no PostgreSQL available: nothing answered at {url} and no initdb/pg_ctl was found on PATH, \
         via `pg_config --bindir` or under /usr/lib/postgresql. Install PostgreSQL \
         (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql`) \
         or set DATABASE_URL to a server where this user may create databases."
    )]
    NoPostgres {
        /// The URL that was tried.
        url: String,
    },
    /// A PostgreSQL command failed.
    #[error("`{command}` failed: {output}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed.
        output: String,
    },
    /// A statement or connection failed.
    #[error("PostgreSQL error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// Migrating the template failed.
    #[error("migrating the template database failed: {0}")]
    Migrate(String),
    /// A file operation failed.
    #[error("{what}: {err}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        err: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DevDbError {
    let what = what.into();
    move |err| DevDbError::Io { what, err }
}

/// A reachable PostgreSQL server on which databases may be created.
#[derive(Debug, Clone)]
pub struct Server {
    /// URL of a database to run administrative statements from.
    pub admin_url: String,
    /// Whether this is the private cluster started under `target/`.
    pub private: bool,
}

impl Server {
    /// The URL of database `name` on this server.
    pub fn url_for(&self, name: &str) -> String {
        with_database(&self.admin_url, name)
    }

    async fn admin(&self) -> Result<tokio_postgres::Client, DevDbError> {
        connect(&self.admin_url).await
    }

    /// Creates database `name` if it does not exist, empty (no migrations).
    pub async fn ensure_database(&self, name: &str) -> Result<String, DevDbError> {
        let client = self.admin().await?;
        let exists =
            client.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await?.is_some();
        if !exists {
            // Two callers may race; the loser's "already exists" is fine.
            if let Err(err) = client.batch_execute(&format!("CREATE DATABASE {}", ident(name))).await
                && err.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
            {
                return Err(err.into());
            }
        }
        Ok(self.url_for(name))
    }

    /// Drops database `name`, disconnecting whoever is using it.
    pub async fn drop_database(&self, name: &str) -> Result<(), DevDbError> {
        let client = self.admin().await?;
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name))).await?;
        Ok(())
    }
}

/// Connects with a short timeout, spawning the connection task.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, DevDbError> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _closed = connection.await;
    });
    Ok(client)
}

/// Replaces the database name in a `postgres://` URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

/// The server tests and tools use: `DATABASE_URL` (or [`DEFAULT_URL`]) if it answers,
/// else the shared private cluster under `target/rfd-pg/shared`, started if needed.
pub async fn server() -> Result<&'static Server, DevDbError> {
    SERVER.get_or_try_init(find_server).await
}

async fn find_server() -> Result<Server, DevDbError> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
    if connect(&url).await.is_ok() {
        return Ok(Server { admin_url: url, private: false });
    }
    let Some(bin) = find_bindir() else {
        return Err(DevDbError::NoPostgres { url: redact(&url) });
    };
    eprintln!(
        "rfd-devdb: nothing answered at {}; using a private PostgreSQL cluster under {}",
        redact(&url),
        shared_cluster_dir().display()
    );
    let cluster = tokio::task::spawn_blocking(move || Cluster::shared(bin))
        .await
        .map_err(|err| DevDbError::Migrate(err.to_string()))??;
    Ok(Server { admin_url: cluster.url("postgres"), private: true })
}

/// Hides the password of a URL for messages.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.find('@') else { return url.to_string() };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &rest[at..]),
        None => url.to_string(),
    }
}

/// A database of its own for one test, cloned from the migrated template; dropped when
/// this value is dropped.
pub struct TestDatabase {
    /// Connection URL.
    pub url: String,
    /// Database name.
    pub name: String,
    server: Server,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase").field("name", &self.name).finish()
    }
}

impl TestDatabase {
    /// The server the database lives on.
    pub fn server(&self) -> &Server {
        &self.server
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs inside or outside a runtime; a thread with its own runtime works in both.
        let _joined = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                let _dropped = runtime.block_on(server.drop_database(&name));
            }
        })
        .join();
    }
}

/// A fresh, migrated database for one test. Panics with an explanation when no
/// PostgreSQL can be had: a test never passes without a real database.
pub async fn test_database() -> TestDatabase {
    match try_test_database().await {
        Ok(db) => db,
        Err(err) => panic!("rfd-devdb: {err}"),
    }
}

/// Like [`test_database`] but returns the error.
pub async fn try_test_database() -> Result<TestDatabase, DevDbError> {
    let server = server().await?;
    let template = ensure_template(server).await?;
    let name = format!("rfdtest_{}", uuid::Uuid::new_v4().simple());
    let client = server.admin().await?;
    client.batch_execute(&format!("CREATE DATABASE {} TEMPLATE {}", ident(&name), ident(&template))).await?;
    Ok(TestDatabase { url: server.url_for(&name), name, server: server.clone() })
}

/// A fresh database with nothing in it (for testing migrations themselves).
pub async fn empty_database() -> TestDatabase {
    let result = async {
        let server = server().await?;
        let name = format!("rfdtest_{}", uuid::Uuid::new_v4().simple());
        let url = server.ensure_database(&name).await?;
        Ok::<_, DevDbError>(TestDatabase { url, name, server: server.clone() })
    }
    .await;
    match result {
        Ok(db) => db,
        Err(err) => panic!("rfd-devdb: {err}"),
    }
}

/// The name of the template for the current migrations, created and migrated if needed.
async fn ensure_template(server: &Server) -> Result<String, DevDbError> {
    let name = format!("rfd_tmpl_{}", migrations_fingerprint());
    let client = server.admin().await?;
    client.execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK_KEY]).await?;
    let result = build_template(server, &client, &name).await;
    let _unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK_KEY]).await;
    result.map(|()| name)
}

async fn build_template(
    server: &Server,
    client: &tokio_postgres::Client,
    name: &str,
) -> Result<(), DevDbError> {
    let row = client.query_opt("SELECT datistemplate FROM pg_database WHERE datname = $1", &[&name]).await?;
    match row {
        Some(row) if row.get::<_, bool>(0) => return Ok(()),
        // A half-built template from an interrupted run: start again.
        Some(_) => server.drop_database(name).await?,
        None => {}
    }
    // Templates of older migration sets are of no further use.
    let stale = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'rfd\\_tmpl\\_%' AND datname <> $1",
            &[&name],
        )
        .await?;
    for row in stale {
        let stale_name: String = row.get(0);
        let _ =
            client.batch_execute(&format!("ALTER DATABASE {} IS_TEMPLATE false", ident(&stale_name))).await;
        let _ = server.drop_database(&stale_name).await;
    }
    client.batch_execute(&format!("CREATE DATABASE {}", ident(name))).await?;
    rfd_model::migrations::migrate(&server.url_for(name))
        .await
        .map_err(|err| DevDbError::Migrate(err.to_string()))?;
    client
        .batch_execute(&format!("ALTER DATABASE {} IS_TEMPLATE true ALLOW_CONNECTIONS false", ident(name)))
        .await?;
    Ok(())
}

/// A hash of the migration files, so a changed migration gets a new template.
fn migrations_fingerprint() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rfd-model/migrations");
    let mut files = Vec::new();
    collect_files(&dir, &mut files);
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in files {
        file.strip_prefix(&dir).unwrap_or(&file).hash(&mut hasher);
        std::fs::read(&file).unwrap_or_default().hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The directory holding PostgreSQL's server binaries (`initdb`, `pg_ctl`), if any.
pub fn find_bindir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_tools(&dir) {
                return Some(dir);
            }
        }
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if has_tools(&dir) {
            return Some(dir);
        }
    }
    // Debian keeps server binaries off PATH, one directory per major version.
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.flatten().map(|e| e.path().join("bin")).filter(|p| has_tools(p)).collect())
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

/// Where the workspace's `target/` directory is.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn shared_cluster_dir() -> PathBuf {
    target_dir().join("rfd-pg/shared")
}

/// A PostgreSQL cluster run from the installed binaries, in a directory of its own.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Private clusters are stopped and removed on drop; the shared one stays up.
    owned: bool,
}

impl Cluster {
    /// Starts a new cluster that belongs to the caller: stopped and deleted on drop.
    pub fn start_private() -> Result<Self, DevDbError> {
        let bin = find_bindir().ok_or_else(|| DevDbError::NoPostgres { url: "(private cluster)".into() })?;
        let dir = target_dir().join(format!("rfd-pg/private-{}", uuid::Uuid::new_v4().simple()));
        let port = free_port()?;
        let cluster = Self { dir, bin, port, owned: true };
        cluster.init()?;
        cluster.start()?;
        Ok(cluster)
    }

    /// The shared cluster under `target/rfd-pg/shared`, created and started if needed.
    /// A file lock keeps concurrent test binaries from racing each other.
    fn shared(bin: PathBuf) -> Result<Self, DevDbError> {
        let dir = shared_cluster_dir();
        std::fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
        let lock_path = dir.join("lock");
        let lock =
            std::fs::File::create(&lock_path).map_err(io_err(format!("create {}", lock_path.display())))?;
        lock.lock().map_err(io_err("lock the shared cluster"))?;
        let port_file = dir.join("port");
        let port = match std::fs::read_to_string(&port_file).ok().and_then(|p| p.trim().parse().ok()) {
            Some(port) => port,
            None => {
                let port = free_port()?;
                std::fs::write(&port_file, port.to_string()).map_err(io_err("write port file"))?;
                port
            }
        };
        let cluster = Self { dir: dir.join("data-root"), bin, port, owned: false };
        if !cluster.data_dir().join("PG_VERSION").exists() {
            cluster.init()?;
        }
        if !cluster.is_running() {
            cluster.start()?;
        }
        drop(lock);
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The URL of database `name` in this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    fn init(&self) -> Result<(), DevDbError> {
        std::fs::create_dir_all(&self.dir).map_err(io_err(format!("create {}", self.dir.display())))?;
        if running_as_root() {
            // initdb refuses to run as root: the cluster belongs to the `postgres` user.
            run(Command::new("chown").arg("-R").arg("postgres").arg(&self.dir))?;
        }
        self.run_pg(
            "initdb",
            &[
                "-D",
                &self.data_dir().to_string_lossy(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) -> Result<(), DevDbError> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            self.port,
            self.dir.display()
        );
        self.run_pg(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().to_string_lossy(),
                "-l",
                &self.dir.join("server.log").to_string_lossy(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    /// Stops the server (fast shutdown: open connections are closed).
    pub fn stop(&self) -> Result<(), DevDbError> {
        self.run_pg("pg_ctl", &["-D", &self.data_dir().to_string_lossy(), "-m", "fast", "-w", "stop"])
    }

    fn is_running(&self) -> bool {
        self.run_pg("pg_ctl", &["-D", &self.data_dir().to_string_lossy(), "status"]).is_ok()
    }

    fn run_pg(&self, tool: &str, args: &[&str]) -> Result<(), DevDbError> {
        let program = self.bin.join(tool);
        let mut command = if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command.args(args);
        run(&mut command)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.owned {
            let _stopped = self.stop();
            let _removed = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn run(command: &mut Command) -> Result<(), DevDbError> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(io_err(format!("run {shown}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(DevDbError::Command {
            command: shown,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        })
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16, DevDbError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io_err("find a free port"))?;
    let port = listener.local_addr().map_err(io_err("find a free port"))?.port();
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@h:5432", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}

//! The users file: who may log in to the Flight SQL front end, with hashed passwords.
//!
//! One user per line, `name:pbkdf2-sha256:ITERATIONS:SALT:HASH` (salt and hash in
//! base64); blank lines and lines starting with `#` are ignored. `dusk passwd NAME --file
//! FILE` writes such a line. Passwords are never stored, only PBKDF2-HMAC-SHA256 of them
//! with a random salt.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};

use super::SecurityError;

/// PBKDF2 rounds for new hashes (OWASP's 2023 advice for HMAC-SHA256 is 600,000; we
/// take fewer so a login costs milliseconds, not a noticeable pause).
const ITERATIONS: u32 = 100_000;
const SCHEME: &str = "pbkdf2-sha256";
const SALT_BYTES: usize = 16;
const HASH_BYTES: usize = 32;

#[derive(Clone)]
struct Hashed {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

/// The users allowed to log in, read from a users file.
#[derive(Clone, Default)]
pub struct Users {
    users: HashMap<String, Hashed>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").field("count", &self.users.len()).finish()
    }
}

impl Users {
    /// Reads a users file.
    pub fn load(path: &Path) -> Result<Self, SecurityError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SecurityError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<Self, SecurityError> {
        let mut users = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: &str| SecurityError::UsersFile {
                path: path.to_path_buf(),
                line: index + 1,
                reason: reason.to_string(),
            };
            let fields: Vec<&str> = line.split(':').collect();
            let [name, scheme, iterations, salt, hash] = fields[..] else {
                return Err(bad("expected NAME:pbkdf2-sha256:ITERATIONS:SALT:HASH"));
            };
            if name.is_empty() {
                return Err(bad("empty user name"));
            }
            if scheme != SCHEME {
                return Err(bad(&format!("unknown hash scheme {scheme:?}, expected {SCHEME}")));
            }
            let iterations = iterations
                .parse::<u32>()
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(|| bad("iterations is not a positive number"))?;
            let salt = STANDARD.decode(salt).map_err(|_| bad("salt is not base64"))?;
            let hash = STANDARD.decode(hash).map_err(|_| bad("hash is not base64"))?;
            if users.insert(name.to_string(), Hashed { iterations, salt, hash }).is_some() {
                return Err(bad(&format!("user {name:?} is listed twice")));
            }
        }
        Ok(Users { users })
    }

    /// Whether `password` is `name`'s. Unknown users and wrong passwords look alike.
    pub fn check(&self, name: &str, password: &str) -> bool {
        let Some(user) = self.users.get(name) else {
            return false;
        };
        pbkdf2::verify(
            pbkdf2::PBKDF2_HMAC_SHA256,
            user.iterations,
            &user.salt,
            password.as_bytes(),
            &user.hash,
        )
        .is_ok()
    }

    /// How many users may log in.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether no one may log in.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// The users-file line for `name` with `password`, hashed with a fresh salt.
pub fn hash_line(name: &str, password: &str) -> Result<String, SecurityError> {
    if name.is_empty() || name.contains([':', '\n']) {
        return Err(SecurityError::UserName(name.to_string()));
    }
    let mut salt = [0u8; SALT_BYTES];
    SystemRandom::new().fill(&mut salt).map_err(|_| SecurityError::Random)?;
    let mut hash = [0u8; HASH_BYTES];
    let iterations = NonZeroU32::new(ITERATIONS).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, password.as_bytes(), &mut hash);
    Ok(format!("{name}:{SCHEME}:{ITERATIONS}:{}:{}", STANDARD.encode(salt), STANDARD.encode(hash)))
}

/// Adds or replaces `name` in the users file at `path` (created if missing).
pub fn set_password(path: &Path, name: &str, password: &str) -> Result<(), SecurityError> {
    let line = hash_line(name, password)?;
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(SecurityError::Read { path: path.to_path_buf(), source }),
    };
    let prefix = format!("{name}:");
    let mut lines: Vec<&str> = existing.lines().filter(|l| !l.trim().starts_with(&prefix)).collect();
    lines.push(&line);
    let text = lines.join("\n") + "\n";
    write_private(path, &text).map_err(|source| SecurityError::Write { path: path.to_path_buf(), source })
}

/// Writes `text` to `path` (and its missing parent directories) readable by its owner
/// only, through a temporary file: for users files and the cluster secret.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp: PathBuf = path.with_extension("tmp");
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_line_checks_only_its_password() {
        let line = hash_line("alice", "s3cret").unwrap();
        let users = Users::parse(&format!("# users\n\n{line}\n"), Path::new("users")).unwrap();
        assert_eq!(users.len(), 1);
        assert!(users.check("alice", "s3cret"));
        assert!(!users.check("alice", "S3cret"));
        assert!(!users.check("bob", "s3cret"));
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        let err = Users::parse("alice:pbkdf2-sha256:1:AAAA:AAAA\nbob:plain:hunter2", Path::new("u.txt"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("u.txt") && err.contains("line 2"), "{err}");
        assert!(hash_line("a:b", "x").is_err());
    }

    #[test]
    fn set_password_replaces_an_existing_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        set_password(&path, "alice", "one").unwrap();
        set_password(&path, "bob", "two").unwrap();
        set_password(&path, "alice", "three").unwrap();
        let users = Users::load(&path).unwrap();
        assert_eq!(users.len(), 2);
        assert!(users.check("alice", "three") && !users.check("alice", "one"));
        assert!(users.check("bob", "two"));
    }
}

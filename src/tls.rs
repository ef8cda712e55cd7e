//! The root certificates a fetch trusts, and certificate failures in the user's terms.
//!
//! Trusted: the roots built into the binary (webpki-roots), and besides them the PEM bundle
//! named by `NIX_SSL_CERT_FILE`, else `SSL_CERT_FILE` (Nix's own order for its
//! `ssl-cert-file`), and the caller's CA file ([`crate::fetch::FetchOptions::ca_file`]: the
//! plugin's `ssl-cert-file`, the sandbox's copy of it in a Nix build).

use std::path::Path;

use reqwest::Certificate;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::CertificateError;

use crate::error::{Error, Result};
use crate::notice::Notify;

/// The variables naming a PEM bundle of roots, the first set one wins.
pub const BUNDLE_VARIABLES: [&str; 2] = ["NIX_SSL_CERT_FILE", "SSL_CERT_FILE"];

/// What names the caller's CA file, in messages.
const CA_FILE_SOURCE: &str = "Nix's ssl-cert-file";

/// The roots to trust besides the built-in ones. `env` reads a variable; inside a Nix build
/// (`NIX_BUILD_TOP` set), a variable naming a file the build cannot see (its sandbox hides it)
/// is warned about through `notify` and skipped: the caller's CA file is then Nix's own. A
/// bundle named twice (Nix's ssl-cert-file is often NIX_SSL_CERT_FILE's) is read once.
pub fn extra_roots(
    ca_file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    notify: &Notify,
) -> Result<Vec<Certificate>> {
    let mut roots = Vec::new();
    let mut read_bundle_id = None;
    let named = BUNDLE_VARIABLES.iter().find_map(|name| {
        env(name)
            .filter(|file| !file.is_empty())
            .map(|file| (*name, file))
    });
    if let Some((variable, file)) = named {
        let in_build = crate::nix_build::in_nix_build(env);
        match read_bundle(Path::new(&file)) {
            Ok(certificates) => {
                roots.extend(certificates);
                read_bundle_id = file_id(Path::new(&file));
            }
            Err(BundleProblem::Missing) if in_build => notify(&format!(
                "{variable} names {file}, which this Nix build cannot see (its sandbox hides \
                 it): not trusted here; the roots built in and Nix's ssl-cert-file are"
            )),
            Err(problem) => return Err(problem.error(&file, variable)),
        }
    }
    let read_already = |file: &&Path| read_bundle_id.is_some() && file_id(file) == read_bundle_id;
    if let Some(file) = ca_file.filter(|file| !read_already(file)) {
        let certificates = read_bundle(file)
            .map_err(|problem| problem.error(&file.display().to_string(), CA_FILE_SOURCE))?;
        roots.extend(certificates);
    }
    Ok(roots)
}

/// The roots of the PEM bundle `file`, which the variable `variable` names (a source's own
/// setting, such as MLFLOW_TRACKING_SERVER_CERT_PATH), trusted besides [`extra_roots`]. As
/// there, inside a Nix build a file the sandbox hides is warned about and skipped.
pub fn roots_named_by(
    variable: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
    notify: &Notify,
) -> Result<Vec<Certificate>> {
    match read_bundle(Path::new(file)) {
        Ok(certificates) => Ok(certificates),
        Err(BundleProblem::Missing) if crate::nix_build::in_nix_build(env) => {
            notify(&format!(
                "{variable} names {file}, which this Nix build cannot see (its sandbox hides \
                 it): not trusted here"
            ));
            Ok(Vec::new())
        }
        Err(problem) => Err(problem.error(file, variable)),
    }
}

enum BundleProblem {
    Missing,
    Unreadable(std::io::Error),
    NotPem(String),
    Empty,
    NoneUsable(usize),
}

impl BundleProblem {
    fn error(self, path: &str, named_by: &str) -> Error {
        let problem = match self {
            BundleProblem::Missing => "does not exist".to_string(),
            BundleProblem::Unreadable(e) => format!("cannot be read: {e}"),
            BundleProblem::NotPem(e) => format!("is not a PEM file: {e}"),
            BundleProblem::Empty => "holds no PEM certificate".to_string(),
            BundleProblem::NoneUsable(count) => {
                format!("holds {count} certificates, none usable as a root")
            }
        };
        Error::CaBundle {
            path: path.to_string(),
            named_by: named_by.to_string(),
            problem,
        }
    }
}

/// What tells the file at `path` from others, through symlinks: its device and inode.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The certificates of a PEM bundle that can be roots; those that cannot (some old bundles
/// carry a few) are left out, as rustls-native-certs leaves them out of the system's.
fn read_bundle(path: &Path) -> Result<Vec<Certificate>, BundleProblem> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BundleProblem::Missing,
        _ => BundleProblem::Unreadable(e),
    })?;
    let ders = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BundleProblem::NotPem(e.to_string()))?;
    if ders.is_empty() {
        return Err(BundleProblem::Empty);
    }
    let usable: Vec<Certificate> = ders
        .iter()
        .filter(|der| webpki::anchor_from_trusted_cert(der).is_ok())
        .filter_map(|der| Certificate::from_der(der).ok())
        .collect();
    if usable.is_empty() {
        return Err(BundleProblem::NoneUsable(ders.len()));
    }
    Ok(usable)
}

/// What is wrong with the server's certificate, if that is why `error` happened.
pub fn certificate_problem(error: &reqwest::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(rustls::Error::InvalidCertificate(problem)) = current.downcast_ref() {
            return Some(describe(problem));
        }
        // An io::Error's `source` is the source of the error it wraps, skipping that error.
        cause = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => current.source(),
        };
    }
    None
}

fn describe(problem: &CertificateError) -> String {
    match problem {
        CertificateError::UnknownIssuer => {
            "it is signed by an authority that is not trusted here (unknown issuer)".into()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "it has expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet (check this machine's clock)".into()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "it is made out to another host name (wrong host)".into()
        }
        CertificateError::Revoked => "it is revoked".into(),
        CertificateError::BadSignature => "its signature is wrong".into(),
        other => format!("it is not acceptable ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_env::lookup;
    use std::sync::{Arc, Mutex};

    fn quiet() -> Notify {
        Arc::new(|_| {})
    }

    fn error_of(vars: &[(&str, &str)], ca_file: Option<&Path>) -> String {
        match extra_roots(ca_file, &lookup(vars), &quiet()) {
            Ok(roots) => panic!("accepted, {} roots", roots.len()),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn bad_bundles_name_the_variable_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let missing = dir.path().join("missing.pem");
        let (empty, missing) = (empty.to_str().unwrap(), missing.to_str().unwrap());

        let error = error_of(&[("NIX_SSL_CERT_FILE", missing)], None);
        assert!(
            error.contains("NIX_SSL_CERT_FILE")
                && error.contains(missing)
                && error.contains("does not exist"),
            "{error}"
        );
        let error = error_of(&[("SSL_CERT_FILE", empty)], None);
        assert!(
            error.contains("SSL_CERT_FILE") && error.contains("holds no PEM certificate"),
            "{error}"
        );
        let error = error_of(&[], Some(Path::new(missing)));
        assert!(
            error.contains("ssl-cert-file") && error.contains(missing),
            "{error}"
        );
    }

    #[test]
    fn nix_ssl_cert_file_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let vars = [
            ("NIX_SSL_CERT_FILE", empty.to_str().unwrap()),
            ("SSL_CERT_FILE", "/nonexistent.pem"),
        ];
        assert!(error_of(&vars, None).contains("NIX_SSL_CERT_FILE"));
        let unset_first = [
            ("NIX_SSL_CERT_FILE", ""),
            ("SSL_CERT_FILE", "/nonexistent.pem"),
        ];
        assert!(error_of(&unset_first, None).contains("SSL_CERT_FILE names /nonexistent.pem"));
    }

    #[test]
    fn in_a_nix_build_a_hidden_bundle_is_a_warning() {
        let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = warnings.clone();
        let notify: Notify = Arc::new(move |w| seen.lock().unwrap().push(w.to_string()));
        let env = lookup(&[
            ("NIX_SSL_CERT_FILE", "/hidden/ca.pem"),
            ("NIX_BUILD_TOP", "/build"),
        ]);
        assert!(extra_roots(None, &env, &notify).unwrap().is_empty());
        let warnings = warnings.lock().unwrap();
        assert!(
            warnings.len() == 1 && warnings[0].contains("NIX_SSL_CERT_FILE names /hidden/ca.pem"),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_sources_own_bundle_variable_is_named_in_its_errors() {
        let notify = quiet();
        let error = roots_named_by(
            "MLFLOW_TRACKING_SERVER_CERT_PATH",
            "/nonexistent.pem",
            &lookup(&[]),
            &notify,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with(
                "MLFLOW_TRACKING_SERVER_CERT_PATH names /nonexistent.pem, which does not exist"
            ),
            "{error}"
        );
        let in_build = lookup(&[("NIX_BUILD_TOP", "/build")]);
        let roots = roots_named_by(
            "MLFLOW_TRACKING_SERVER_CERT_PATH",
            "/hidden.pem",
            &in_build,
            &notify,
        );
        assert!(roots.unwrap().is_empty());
    }
}

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::files::own_dir;
use crate::*;

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// nginx interpolates `$` in the config's strings: such a key is refused, by a message that
/// names the rule and not the key, before anything is written.
#[test]
fn api_keys_outside_the_rule_are_refused_without_being_shown() {
    for bad in [
        "k$http_x_k",
        "a b",
        "q\"uote",
        "back\\slash",
        "semi;colon",
        "{x}",
        "",
    ] {
        let e = check_api_key(bad).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(API_KEY_CHARSET_RULE), "{msg}");
        if bad.len() > 3 {
            assert!(!msg.contains(bad), "{msg}");
        }
    }
    for good in [
        "rig-0123456789abcdef0123456789abcdef",
        "tmprl_AbC.dEf~1+2/3==",
        "local-api-key",
    ] {
        check_api_key(good).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("tl-front-refused-{}", std::process::id()));
    let e = TlsFront::start(TlsFrontOptions {
        api_key: Some("k$http_x_k".into()),
        ..TlsFrontOptions::new("127.0.0.1:7233", &dir)
    })
    .unwrap_err();
    assert!(matches!(e, TlsFrontError::InvalidApiKey { .. }), "{e}");
    assert!(!dir.exists(), "nothing is written before the checks pass");
}

#[test]
fn the_upstream_must_be_host_port() {
    for good in [
        "127.0.0.1:7233",
        "localhost:1",
        "[::1]:7233",
        "temporal-frontend.ns:7233",
    ] {
        check_upstream(good).unwrap();
    }
    for bad in [
        "127.0.0.1",
        "h:0",
        "h:70000",
        "h:x",
        ":7233",
        "h:7233; return 200",
        "h;x:7233",
        "$host:7233",
        "[nope]:7233",
        "unix:/x",
    ] {
        let e = check_upstream(bad).unwrap_err();
        assert!(e.to_string().contains("host:port"), "{bad}: {e}");
    }
}

/// Keys and certificates go through the private-file writer (0600, never through a planted
/// symlink, an older file's mode not kept), in 0700 directories.
#[test]
fn keys_are_written_privately_in_private_directories() {
    let dir = std::env::temp_dir().join(format!("tl-front-pki-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pki_dir = dir.join("pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    std::fs::set_permissions(&pki_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let victim = dir.join("victim");
    std::fs::write(&victim, "untouched").unwrap();
    std::os::unix::fs::symlink(&victim, pki_dir.join("server.key")).unwrap();
    std::fs::write(pki_dir.join("client.key"), "old").unwrap();
    std::fs::set_permissions(
        pki_dir.join("client.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let pki = Pki::generate(&pki_dir, &TlsFrontOptions::new("127.0.0.1:1", &dir)).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    assert_eq!(mode(&pki_dir), 0o700);
    for p in [
        &pki.server_key_path,
        &pki.client_key_path,
        &pki.untrusted_client_key_path,
        &pki.ca_cert_path,
    ] {
        assert_eq!(mode(p), 0o600, "{}", p.display());
        assert!(std::fs::symlink_metadata(p).unwrap().is_file());
    }
    assert!(std::fs::read_to_string(&pki.server_key_path)
        .unwrap()
        .contains("PRIVATE KEY"));
    // The front's own directory is made private; a shared sticky one is refused.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    own_dir(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    let sticky = dir.join("sticky");
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(matches!(
        own_dir(&sticky),
        Err(TlsFrontError::SharedDir { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

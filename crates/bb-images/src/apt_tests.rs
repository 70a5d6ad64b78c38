use super::*;

fn src(suite: &str, mirror: &str, keyring: Option<&str>) -> AptSource {
    AptSource {
        suite: suite.into(),
        mirror: mirror.into(),
        keyring: keyring.map(PathBuf::from),
    }
}

#[test]
fn one_line_entries_give_the_first_main_release_suite() {
    let text = "\
# a comment
deb-src http://mirror.test/debian trixie main
deb http://mirror.test/debian-security trixie-security main
deb http://mirror.test/debian trixie-updates main
deb http://mirror.test/debian trixie contrib
   deb http://mirror.test/debian trixie main contrib # trailing comment
deb http://other.test/debian forky main
";
    assert_eq!(
        in_list(text),
        Some(src("trixie", "http://mirror.test/debian", None))
    );
}

#[test]
fn one_line_options_give_an_absolute_signed_by_keyring() {
    let text = "deb [arch=amd64 signed-by=/usr/share/keyrings/test.gpg] https://mirror.test/debian bookworm main\n";
    assert_eq!(
        in_list(text),
        Some(src(
            "bookworm",
            "https://mirror.test/debian",
            Some("/usr/share/keyrings/test.gpg")
        ))
    );
    let spaced = "deb [ signed-by=/k.gpg ] http://mirror.test/d sid main\n";
    assert_eq!(
        in_list(spaced),
        Some(src("sid", "http://mirror.test/d", Some("/k.gpg")))
    );
    let relative = "deb [signed-by=test.gpg] http://mirror.test/d sid main\n";
    assert_eq!(
        in_list(relative),
        Some(src("sid", "http://mirror.test/d", None))
    );
}

#[test]
fn pockets_flat_repositories_and_other_schemes_are_skipped() {
    for suite in [
        "x-security",
        "x-updates",
        "x-proposed-updates",
        "x-backports",
        "x-backports-sloppy",
        "x-proposed",
        "./",
        "x/updates",
    ] {
        let text = format!("deb http://mirror.test/d {suite} main\n");
        assert_eq!(in_list(&text), None, "{suite}");
    }
    assert_eq!(in_list("deb cdrom:[x]/ bookworm main\n"), None);
    assert_eq!(in_list("deb mirror+file:/etc/m bookworm main\n"), None);
    for uri in [
        "http://m.test/d",
        "https://m.test/d",
        "file:/srv/d",
        "ftp://m.test/d",
    ] {
        let text = format!("deb {uri} bookworm main\n");
        assert_eq!(in_list(&text), Some(src("bookworm", uri, None)), "{uri}");
    }
    assert_eq!(in_list("deb\n"), None);
    assert_eq!(in_list("deb http://mirror.test/d\n"), None);
}

#[test]
fn deb822_stanzas_with_several_uris_and_suites() {
    let text = "\
# Modernized from /etc/apt/sources.list
Types: deb deb-src
URIs: cdrom:/x http://mirror.test/debian https://mirror2.test/debian
Suites: trixie-updates trixie trixie-backports
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.test/debian-security
Suites: trixie-security
Components: main
";
    assert_eq!(
        in_deb822(text),
        Some(src(
            "trixie",
            "http://mirror.test/debian",
            Some("/usr/share/keyrings/debian-archive-keyring.gpg")
        ))
    );
}

#[test]
fn deb822_skips_disabled_source_only_and_non_main_stanzas() {
    let text = "\
Types: deb
URIs: http://one.test/d
Suites: bookworm
Components: main
Enabled: No

Types: deb-src
URIs: http://two.test/d
Suites: bookworm
Components: main

Types: deb
URIs: http://three.test/d
Suites: bookworm
Components: contrib

types: deb
uris: http://four.test/d
suites: bookworm
components: main
";
    assert_eq!(
        in_deb822(text),
        Some(src("bookworm", "http://four.test/d", None))
    );
}

#[test]
fn deb822_inline_signed_by_keys_are_not_keyrings() {
    let text = "\
Types: deb
URIs: http://mirror.test/d
Suites: sid
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 abc
 -----END PGP PUBLIC KEY BLOCK-----
";
    assert_eq!(
        in_deb822(text),
        Some(src("sid", "http://mirror.test/d", None))
    );
    let with_path_then_more = "\
Types: deb
URIs: http://mirror.test/d
Suites: sid
Signed-By: /k.gpg
 continued
Components: main
";
    assert_eq!(
        in_deb822(with_path_then_more),
        Some(src("sid", "http://mirror.test/d", None))
    );
}

#[test]
fn deb822_stanzas_without_uris_are_ignored() {
    assert_eq!(
        in_deb822("Types: deb\nSuites: sid\nComponents: main\n"),
        None
    );
}

fn etc_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sources.list.d")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn files_are_read_in_apts_order() {
    let etc = etc_with(&[
        (
            "sources.list.d/b.sources",
            "Types: deb\nURIs: http://b.test/d\nSuites: sid\nComponents: main\n",
        ),
        ("sources.list.d/a.list", "deb http://a.test/d sid main\n"),
        ("sources.list.d/0.txt", "deb http://txt.test/d sid main\n"),
    ]);
    assert_eq!(
        host_source(etc.path()).map(|s| s.mirror),
        Some("http://a.test/d".into())
    );
    std::fs::write(
        etc.path().join("sources.list"),
        "deb http://main.test/d sid main\n",
    )
    .unwrap();
    assert_eq!(
        host_source(etc.path()).map(|s| s.mirror),
        Some("http://main.test/d".into())
    );
    std::fs::write(etc.path().join("sources.list"), "# empty\n").unwrap();
    std::fs::remove_file(etc.path().join("sources.list.d/a.list")).unwrap();
    assert_eq!(
        host_source(etc.path()).map(|s| s.mirror),
        Some("http://b.test/d".into())
    );
}

#[test]
fn the_environment_overrides_the_host_and_drops_the_keyring() {
    let etc = etc_with(&[(
        "sources.list",
        "deb [signed-by=/k.gpg] http://host.test/d bookworm main\n",
    )]);
    let etc_path = etc.path().display().to_string();
    let env = |pairs: Vec<(&'static str, String)>| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    };
    let host = env(vec![(env::APT_ETC, etc_path.clone())]);
    assert_eq!(
        resolve(&host).unwrap(),
        src("bookworm", "http://host.test/d", Some("/k.gpg"))
    );
    let suite = env(vec![
        (env::APT_ETC, etc_path.clone()),
        (env::DEBIAN_SUITE, "trixie".into()),
    ]);
    assert_eq!(
        resolve(&suite).unwrap(),
        src("trixie", "http://host.test/d", None)
    );
    let mirror = env(vec![
        (env::APT_ETC, etc_path.clone()),
        (env::DEBIAN_MIRROR, "http://mirror.test/d".into()),
        (env::DEBIAN_SUITE, String::new()),
    ]);
    assert_eq!(
        resolve(&mirror).unwrap(),
        src("bookworm", "http://mirror.test/d", None)
    );
    let empty = etc_with(&[]);
    let none = env(vec![(env::APT_ETC, empty.path().display().to_string())]);
    let err = resolve(&none).unwrap_err().to_string();
    assert!(
        err.contains("BB_DEBIAN_SUITE and BB_DEBIAN_MIRROR"),
        "{err}"
    );
    assert!(err.contains("sources.list{,.d/*}"), "{err}");
}

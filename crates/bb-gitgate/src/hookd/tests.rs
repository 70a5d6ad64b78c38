use super::*;

#[test]
fn the_quarantine_must_lie_inside_the_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("mirrors/shop.git");
    let incoming = mirror.join("objects/tmp_objdir-incoming-x");
    std::fs::create_dir_all(&incoming).unwrap();
    let other = tmp.path().join("mirrors/other.git/objects");
    std::fs::create_dir_all(&other).unwrap();
    let var = |k: &str, v: &Path| (k.to_string(), v.display().to_string());

    let inside = vec![
        var("GIT_OBJECT_DIRECTORY", &incoming),
        var("GIT_QUARANTINE_PATH", &incoming),
        var("GIT_ALTERNATE_OBJECT_DIRECTORIES", &mirror.join("objects")),
    ];
    assert_eq!(quarantine_in(&mirror, &inside).unwrap(), inside);

    let elsewhere = [var("GIT_OBJECT_DIRECTORY", &other)];
    let err = quarantine_in(&mirror, &elsewhere).unwrap_err().to_string();
    assert!(err.contains("GIT_OBJECT_DIRECTORY points outside"), "{err}");
    let through_dots = [var(
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        &mirror.join("objects/../../other.git/objects"),
    )];
    assert!(quarantine_in(&mirror, &through_dots).is_err());
    let listed_second = vec![(
        "GIT_ALTERNATE_OBJECT_DIRECTORIES".to_string(),
        format!("{}:{}", mirror.join("objects").display(), other.display()),
    )];
    assert!(quarantine_in(&mirror, &listed_second).is_err());
    let missing = [var("GIT_OBJECT_DIRECTORY", &mirror.join("objects/nope"))];
    assert!(quarantine_in(&mirror, &missing).is_err());
    let not_quarantine = [("GIT_DIR".to_string(), mirror.display().to_string())];
    let err = quarantine_in(&mirror, &not_quarantine)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no quarantine variable"), "{err}");
}

#[test]
fn relative_quarantine_paths_are_made_absolute() {
    let cwd = Path::new("/srv/mirrors/shop.git");
    assert_eq!(
        absolute_paths(cwd, "./objects/incoming:/abs/objects"),
        "/srv/mirrors/shop.git/./objects/incoming:/abs/objects"
    );
    assert_eq!(absolute_paths(cwd, ""), "");
}

#[test]
fn answers_are_relayed_line_by_line_and_end_with_the_status() {
    let (hook, service) = UnixStream::pair().unwrap();
    let server = std::thread::spawn(move || {
        let request = read_request(&service).unwrap();
        let mut sink = AnswerWriter {
            stream: &service,
            pending: Vec::new(),
        };
        write!(sink, "first {}\nsecond", request.repo).unwrap();
        writeln!(sink, " line").unwrap();
        sink.send(&Answer::Exit(256));
    });
    let request = Request {
        repo: "shop".into(),
        updates: "a b c\n".into(),
        env: Vec::new(),
    };
    let mut out = Vec::new();
    assert_eq!(
        relay_answer(&hook, &request, &mut out),
        1,
        "256 is a refusal, not 0"
    );
    server.join().unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "first shop\nsecond line\n");
}

#[test]
fn a_service_that_ends_without_a_verdict_rejects_the_push() {
    let (hook, service) = UnixStream::pair().unwrap();
    let server = std::thread::spawn(move || {
        let _ = read_request(&service);
        let mut sink = AnswerWriter {
            stream: &service,
            pending: Vec::new(),
        };
        writeln!(sink, "judging").unwrap();
    });
    let request = Request {
        repo: "shop".into(),
        updates: String::new(),
        env: Vec::new(),
    };
    let mut out = Vec::new();
    let status = relay_answer(&hook, &request, &mut out);
    server.join().unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(status, 1, "{text}");
    assert!(
        text.contains("judging\n") && text.contains("push rejected"),
        "{text}"
    );
}

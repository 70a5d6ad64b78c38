//! The runtime probe on the real engine: it works on a host that has none of the images it
//! would normally try (a fresh host), through an empty image and the host's own `stat`.

#[test]
fn a_runtime_is_probed_before_any_bottle_image_exists() {
    assert!(
        bb_core::docker::available(),
        "this test needs a running Docker engine (`docker version` failed)"
    );
    let probe = bb_core::docker::probe_runtime("runc", &["bot-bottle-no-such-image:never"]);
    assert_eq!(probe, bb_core::docker::RuntimeProbe::Works);
    let unknown =
        bb_core::docker::probe_runtime("no-such-runtime", &["bot-bottle-no-such-image:never"]);
    assert!(
        matches!(unknown, bb_core::docker::RuntimeProbe::Fails(_)),
        "{unknown:?}"
    );
}

//! A recording `kubectl` for the tests of the Kubernetes backend (no cluster runs here): a
//! shell script that writes each call's arguments (`call-TIME-PID.args`) into a folder of its
//! own and answers with the `case` arms a test gives it. An arm that reads stdin keeps it
//! beside the arguments (`cat > "$dir/call-$n.stdin"`). Calls are in time order; two may run at
//! once (a launch follows the sidecar's log while it provisions).

use std::path::{Path, PathBuf};

/// The fake and the folder of its calls, removed when dropped.
pub struct FakeKubectl {
    dir: tempfile::TempDir,
}

impl FakeKubectl {
    /// A kubectl answering with `arms`: `case " $* " in` arms (`$dir` is its folder, `$n` the
    /// call's name); a call no arm answers prints nothing and succeeds.
    pub fn new(arms: &str) -> FakeKubectl {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let calls = dir.path().join("calls");
        std::fs::create_dir(&calls).unwrap();
        let script = format!(
            "#!/bin/sh\ndir='{}'\nn=\"$(date +%s%N)-$$\"\nprintf '%s\\n' \"$*\" > \"$dir/call-$n.args\"\ncase \" $* \" in\n{arms}\nesac\nexit 0\n",
            calls.display()
        );
        let program = dir.path().join("kubectl");
        std::fs::write(&program, script).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeKubectl { dir }
    }

    /// The script, for `BB_KUBECTL`.
    pub fn program(&self) -> PathBuf {
        self.dir.path().join("kubectl")
    }

    /// A folder of the test's, removed with the fake.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn calls_dir(&self) -> PathBuf {
        self.dir.path().join("calls")
    }

    fn call_files(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.calls_dir())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "args"))
            .collect();
        paths.sort();
        paths
    }

    /// The calls' arguments, in order.
    pub fn calls(&self) -> Vec<String> {
        self.call_files()
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap().trim().to_string())
            .collect()
    }

    /// What the `index`th call read on stdin.
    pub fn stdin_at(&self, index: usize) -> Vec<u8> {
        std::fs::read(self.call_files()[index].with_extension("stdin")).unwrap()
    }

    /// What the (first) call whose arguments hold `marker` read on stdin.
    pub fn stdin_of(&self, marker: &str) -> Vec<u8> {
        let call = self
            .call_files()
            .into_iter()
            .find(|p| std::fs::read_to_string(p).unwrap().contains(marker))
            .unwrap_or_else(|| panic!("no call with {marker}"));
        std::fs::read(call.with_extension("stdin")).unwrap()
    }

    /// Everything kubectl was given, arguments and stdin.
    pub fn everything(&self) -> String {
        std::fs::read_dir(self.calls_dir())
            .unwrap()
            .flatten()
            .map(|e| String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned())
            .collect()
    }
}

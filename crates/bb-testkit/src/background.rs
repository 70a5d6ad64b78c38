//! Background processes of a test.

/// A process a test started in the background, killed when dropped: a test that fails while
/// it runs leaves nothing running.
pub struct Background(Option<std::process::Child>);

impl Background {
    pub fn new(child: std::process::Child) -> Background {
        Background(Some(child))
    }

    /// Waits for it and takes its output.
    pub fn wait_with_output(mut self) -> std::process::Output {
        self.0
            .take()
            .expect("not waited yet")
            .wait_with_output()
            .unwrap()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

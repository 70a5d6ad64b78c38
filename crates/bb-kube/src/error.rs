//! Why a plan or a flag cannot be rendered: every one is bad input (exit status 2), told on
//! one line with its fix.

use bb_contract::InputError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A stage the renderer needs has not run.
    #[error("the plan has no `{section}` section; run {tool} first")]
    MissingStage {
        section: &'static str,
        tool: &'static str,
    },
    /// Neither the plan nor a flag names the sidecar's image.
    #[error(
        "the plan names no sidecar image (no `compose` section); pass --sidecar-image IMAGE or run bb-compose render first"
    )]
    NoSidecarImage,
    /// The agent Pod needs the sidecar Service's ClusterIP.
    #[error(
        "--sidecar-ip is required (the agent's DNS server and the sidecar's names point at it); pass a free address of the service CIDR {service_cidr}, such as --sidecar-ip {example}"
    )]
    NoSidecarIp {
        service_cidr: String,
        example: String,
    },
    /// A flag's value is malformed.
    #[error("{flag}: `{value}` {problem}; {fix}")]
    BadFlag {
        flag: &'static str,
        value: String,
        problem: String,
        fix: String,
    },
    /// A host file the plan names (the CA certificate, the gate's rules) is not given.
    #[error("the {what} ({path}) was not given to the renderer; {fix}")]
    MissingFile {
        what: &'static str,
        path: String,
        fix: &'static str,
    },
}

impl RenderError {
    pub(crate) fn bad_flag(
        flag: &'static str,
        value: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> RenderError {
        RenderError::BadFlag {
            flag,
            value: value.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl From<RenderError> for InputError {
    fn from(err: RenderError) -> InputError {
        InputError::new(err.to_string())
    }
}

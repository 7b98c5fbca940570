//! Why a command failed, the message the teller reads and the exit status.
//!
//! Exit statuses: 1 when a service rejected a request, could not be reached
//! or a check failed. 2 for invalid input, the status clap uses for usage
//! errors. 3 when nothing was paid because a wait timed out or was
//! cancelled, or the customer or supervisor declined.

use grpc_support::ErrorSummary;

use crate::lang::Lang;

/// Exit status for a service error or a failed check.
pub const EXIT_SERVICE: u8 = 1;
/// Exit status for invalid input.
pub const EXIT_INVALID_INPUT: u8 = 2;
/// Exit status for a timed-out, cancelled or declined step.
pub const EXIT_NOT_COMPLETED: u8 = 3;

/// A failed command. Every message is already in the teller's language.
#[derive(Debug)]
pub enum Failure {
    /// A service returned an error status.
    Service(Box<ErrorSummary>),
    /// A service could not be reached.
    Unreachable { url: String, detail: String },
    /// A flag, file or value given by the teller is invalid.
    Invalid(String),
    /// A wait timed out, was cancelled with Ctrl-C, or someone declined.
    NotCompleted(String),
    /// Something other than a service error went wrong: a supervisor
    /// rejected, an authorization expired, the audit log did not verify.
    Failed(String),
}

impl Failure {
    /// Wraps a status returned by a service.
    pub fn service(status: &tonic::Status) -> Self {
        Failure::Service(Box::new(ErrorSummary::from_status(status)))
    }

    /// Returns the process exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Service(_) | Failure::Unreachable { .. } | Failure::Failed(_) => EXIT_SERVICE,
            Failure::Invalid(_) => EXIT_INVALID_INPUT,
            Failure::NotCompleted(_) => EXIT_NOT_COMPLETED,
        }
    }

    /// Returns the ErrorInfo reason of a service error.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Failure::Service(summary) => summary.reason.as_deref(),
            _ => None,
        }
    }

    /// Writes the message for stderr.
    pub fn render(&self, lang: Lang) -> String {
        match self {
            Failure::Service(summary) => render_service_error(summary, lang),
            Failure::Unreachable { url, detail } => match lang {
                Lang::ZhCn => format!("错误：无法连接服务 {url}：{detail}。请确认服务已启动、地址正确。"),
                Lang::En => format!(
                    "error: cannot reach the service at {url}: {detail}. Check that it runs and the URL is right."
                ),
            },
            Failure::Invalid(message) | Failure::NotCompleted(message) | Failure::Failed(message) => {
                message.clone()
            }
        }
    }
}

/// Writes a service error as the zh-CN LocalizedMessage (or the English
/// status message with `--lang en`) followed by the ErrorInfo reason, and
/// one line per precondition violation, which names what is still missing.
fn render_service_error(summary: &ErrorSummary, lang: Lang) -> String {
    let reason = summary
        .reason
        .clone()
        .unwrap_or_else(|| format!("{:?}", summary.code).to_uppercase());
    let mut text = match (lang, summary.localized_zh_cn.as_deref()) {
        (Lang::ZhCn, Some(localized)) => format!("错误：{localized}（{reason}）"),
        (Lang::ZhCn, None) => format!("错误：{}（{reason}）", summary.message),
        (Lang::En, _) => format!("error: {} ({reason})", summary.message),
    };
    for violation in &summary.precondition_violations {
        text.push_str(&match lang {
            Lang::ZhCn => format!("\n  · {}：{}", violation.kind, violation.subject),
            Lang::En => format!(
                "\n  · {} {}: {}",
                violation.kind, violation.subject, violation.description
            ),
        });
    }
    if lang == Lang::En {
        for violation in &summary.field_violations {
            text.push_str(&format!("\n  · {}: {}", violation.field, violation.description));
        }
    }
    text
}

/// Shorthand for an invalid-input failure with a message per language.
pub fn invalid(lang: Lang, zh_cn: String, en: String) -> Failure {
    Failure::Invalid(match lang {
        Lang::ZhCn => format!("错误：{zh_cn}"),
        Lang::En => format!("error: {en}"),
    })
}

#[cfg(test)]
mod tests {
    use grpc_support::ApiError;
    use tonic::Code;

    use super::*;

    fn summary() -> ErrorSummary {
        let status = ApiError::new(
            Code::FailedPrecondition,
            "DISCLOSURE_NOT_ACKNOWLEDGED",
            "authorization A still needs the customer's acknowledgement",
            "客户尚未确认利息损失告知，不能授权或放款。",
        )
        .with_precondition_violation("REQUIREMENT", "DISCLOSURE_ACKNOWLEDGEMENT", "not met")
        .into_status("withdrawal-authorization.bank");
        ErrorSummary::from_status(&status)
    }

    #[test]
    fn service_error_zh_cn() {
        let text = render_service_error(&summary(), Lang::ZhCn);
        assert!(
            text.starts_with(
                "错误：客户尚未确认利息损失告知，不能授权或放款。（DISCLOSURE_NOT_ACKNOWLEDGED）"
            ),
            "{text}"
        );
        assert!(text.contains("REQUIREMENT：DISCLOSURE_ACKNOWLEDGEMENT"), "{text}");
    }

    #[test]
    fn service_error_en() {
        let text = render_service_error(&summary(), Lang::En);
        assert!(
            text.starts_with(
                "error: authorization A still needs the customer's acknowledgement (DISCLOSURE_NOT_ACKNOWLEDGED)"
            ),
            "{text}"
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Failure::Service(Box::new(summary())).exit_code(), 1);
        assert_eq!(Failure::Invalid(String::new()).exit_code(), 2);
        assert_eq!(Failure::NotCompleted(String::new()).exit_code(), 3);
    }
}

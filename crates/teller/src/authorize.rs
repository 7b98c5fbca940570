//! The steps after a submission that `withdraw`, `close` and `demo` share:
//! the customer's acknowledgement of the disclosure, the supervisor's
//! co-signature (on site or from another terminal) and the release.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bank_proto::deposit::Payout;
use bank_proto::withdrawal::{Authorization, AuthorizationState, CaptureMethod, DisclosureAcknowledgement};
use chrono::Utc;
use clap::{Args, ValueEnum};
use grpc_support::convert::{require_text, to_timestamp};

use crate::client::Api;
use crate::error::{Failure, invalid};
use crate::json;
use crate::lang::Lang;
use crate::output::Output;
use crate::render;
use crate::signing::Signer;

/// Interval between two polls while waiting for a remote co-signature.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Interval between two "still waiting" lines when stderr is not a terminal.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);
/// Maximum length of a capture reference in characters, as the service
/// enforces it.
const MAX_CAPTURE_REFERENCE_CHARS: usize = 64;
/// How often a prompt is repeated after an empty or invalid answer.
const MAX_PROMPT_ATTEMPTS: usize = 3;

/// Capture method of the customer's acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaptureArg {
    /// 电子签名板
    SignaturePad,
    /// 密码键盘
    PinPad,
    /// 纸质告知书
    PaperForm,
}

impl From<CaptureArg> for CaptureMethod {
    fn from(method: CaptureArg) -> Self {
        match method {
            CaptureArg::SignaturePad => CaptureMethod::SignaturePad,
            CaptureArg::PinPad => CaptureMethod::PinPad,
            CaptureArg::PaperForm => CaptureMethod::PaperForm,
        }
    }
}

/// Flags for the customer's confirmation and the supervisor's co-signature.
#[derive(Debug, Clone, Args)]
pub struct ConfirmArgs {
    /// Take the customer's confirmation of the disclosure, and the on-site
    /// supervisor's approval, as given, without asking: for scripts. Needs
    /// --capture-method and --capture-ref, checked before anything is
    /// submitted because only the submission shows whether a disclosure is
    /// required.
    #[arg(long)]
    pub yes: bool,
    /// Capture method of the customer's confirmation.
    #[arg(long, value_enum)]
    pub capture_method: Option<CaptureArg>,
    /// Signature pad or PIN pad transaction id, or the paper form number.
    #[arg(long, value_name = "REF")]
    pub capture_ref: Option<String>,
    /// Supervisor who co-signs at this terminal. Without it the client waits
    /// for a co-signature from another terminal (teller supervisor cosign).
    #[arg(long, requires = "supervisor_key_file")]
    pub supervisor_id: Option<String>,
    /// PKCS#8 PEM file of the on-site supervisor's key.
    #[arg(long, requires = "supervisor_id", value_name = "PATH")]
    pub supervisor_key_file: Option<PathBuf>,
    /// Maximum time in seconds to wait for a co-signature from another
    /// terminal; Ctrl-C stops waiting earlier.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub wait_secs: u64,
}

impl ConfirmArgs {
    /// Checks the flags before anything is submitted, and loads the on-site
    /// supervisor's key.
    pub fn validate(&self, lang: Lang, teller_staff_id: &str) -> Result<Option<Signer>, Failure> {
        if self.yes && (self.capture_method.is_none() || self.capture_ref.is_none()) {
            return Err(invalid(
                lang,
                "--yes 须同时给出 --capture-method 和 --capture-ref（客户确认的方式和凭证号）。".to_owned(),
                "--yes needs --capture-method and --capture-ref (how the customer confirmed, and the reference)."
                    .to_owned(),
            ));
        }
        if let Some(reference) = &self.capture_ref {
            check_capture_ref(lang, reference)?;
        }
        match (&self.supervisor_id, &self.supervisor_key_file) {
            (Some(supervisor_id), Some(key_file)) => {
                if supervisor_id == teller_staff_id {
                    return Err(invalid(
                        lang,
                        format!("营运主管 {supervisor_id} 与经办柜员是同一人，不能自己授权（双人四眼）。"),
                        format!(
                            "supervisor {supervisor_id} is the teller: nobody co-signs their own withdrawal (four eyes)."
                        ),
                    ));
                }
                Ok(Some(Signer::load(supervisor_id, key_file, lang)?))
            }
            _ => Ok(None),
        }
    }
}

fn check_capture_ref(lang: Lang, reference: &str) -> Result<(), Failure> {
    require_text("--capture-ref", reference, MAX_CAPTURE_REFERENCE_CHARS)
        .map(|_| ())
        .map_err(|_| {
            invalid(
                lang,
                format!(
                    "--capture-ref 的值 {reference:?} 无效，应为 1 到 {MAX_CAPTURE_REFERENCE_CHARS} 个字符且不含控制字符。"
                ),
                format!(
                    "invalid value {reference:?} for --capture-ref: expected 1 to {MAX_CAPTURE_REFERENCE_CHARS} characters without control characters."
                ),
            )
        })
}

/// Shows the disclosure to the customer, takes their confirmation and
/// records the acknowledgement signed by the teller. Returns the updated
/// authorization, whose digest now covers the acknowledgement.
pub async fn acknowledge(
    api: &Api,
    out: &Output,
    teller: &Signer,
    authorization: &Authorization,
    confirm: &ConfirmArgs,
) -> Result<Authorization, Failure> {
    let lang = out.lang;
    let Some(text) = render::disclosure(authorization, lang) else {
        return Err(Failure::Failed(
            lang.pick(
                "错误：服务未返回利息损失告知文本，不能登记客户确认。",
                "error: the service sent no disclosure text, so no acknowledgement can be recorded.",
            )
            .to_owned(),
        ));
    };
    // The acknowledgement names the SHA-256 of the text shown, so hash what
    // is on the screen rather than trusting the digest field.
    let shown_sha256 = withdrawal_authorization::disclosure::sha256_hex(&text.text);
    if shown_sha256 != text.sha256 {
        return Err(Failure::Failed(
            lang.pick(
                "错误：利息损失告知文本与其摘要不一致，未登记客户确认。请重新办理。",
                "error: the disclosure text does not match its SHA-256, so no acknowledgement was recorded. Start over.",
            )
            .to_owned(),
        ));
    }

    out.say(&out.style.bold(lang.pick(
        "—— 利息损失告知（请向客户出示并逐项说明）——",
        "—— Interest-loss disclosure (show it to the customer and explain each line) ——",
    )));
    out.say(&out.style.alert(text.text.trim_end()));

    let (method, reference) = if confirm.yes {
        let method = confirm.capture_method.unwrap_or(CaptureArg::SignaturePad);
        let reference = confirm.capture_ref.clone().unwrap_or_default();
        out.say(&match lang {
            Lang::ZhCn => format!(
                "客户确认：按 --yes 记录，确认方式 {}，凭证号 {reference}。",
                crate::terms::capture_method(CaptureMethod::from(method), lang)
            ),
            Lang::En => format!(
                "Customer confirmation: taken from --yes, captured on {}, reference {reference}.",
                crate::terms::capture_method(CaptureMethod::from(method), lang)
            ),
        });
        (method, reference)
    } else {
        let question = lang.pick(
            "客户是否已阅读并确认以上利息损失告知，同意提前支取？",
            "Has the customer read and confirmed the disclosure above, and agreed to withdraw early?",
        );
        if !out.confirm(question)? {
            return Err(declined(lang, &authorization.authorization_id));
        }
        let method = match confirm.capture_method {
            Some(method) => method,
            None => ask_capture_method(out, &authorization.authorization_id)?,
        };
        let reference = match &confirm.capture_ref {
            Some(reference) => reference.clone(),
            None => ask_capture_ref(out, &authorization.authorization_id)?,
        };
        (method, reference)
    };

    let acknowledgement = DisclosureAcknowledgement {
        authorization_id: authorization.authorization_id.clone(),
        language: text.language.clone(),
        disclosure_sha256: shown_sha256,
        capture_method: CaptureMethod::from(method) as i32,
        capture_reference: reference,
        captured_at: Some(to_timestamp(Utc::now())),
        teller_staff_id: teller.staff_id.clone(),
    };
    let envelope = teller.sign(
        bank_proto::payload_type::DISCLOSURE_ACKNOWLEDGEMENT,
        &acknowledgement,
    );
    let updated = api.acknowledge(envelope).await?;
    out.say(&out.style.good(lang.pick(
        "✓ 已登记客户对利息损失告知的确认。",
        "✓ The customer's acknowledgement is recorded.",
    )));
    out.stage(serde_json::json!({"stage": "acknowledged", "authorization": json::authorization(&updated)}));
    Ok(updated)
}

fn declined(lang: Lang, authorization_id: &str) -> Failure {
    Failure::NotCompleted(match lang {
        Lang::ZhCn => format!(
            "客户未确认利息损失告知，未放款。授权 {authorization_id} 保持待处理，到期状态证明过期后自动失效；如需立即重新办理，请营运主管拒绝该授权（teller supervisor reject {authorization_id} --reason 原因）。"
        ),
        Lang::En => format!(
            "The customer did not confirm the disclosure, so nothing was paid. Authorization {authorization_id} stays pending and expires with its attestation; to start over now, a supervisor rejects it (teller supervisor reject {authorization_id} --reason REASON)."
        ),
    })
}

fn ask_capture_method(out: &Output, authorization_id: &str) -> Result<CaptureArg, Failure> {
    let question = out.lang.pick(
        "确认方式：1 电子签名板，2 密码键盘，3 纸质告知书 [1]：",
        "Captured on: 1 signature pad, 2 PIN pad, 3 paper form [1]: ",
    );
    for _ in 0..MAX_PROMPT_ATTEMPTS {
        match out.ask(question)?.as_deref() {
            None => return Err(declined(out.lang, authorization_id)),
            Some("" | "1") => return Ok(CaptureArg::SignaturePad),
            Some("2") => return Ok(CaptureArg::PinPad),
            Some("3") => return Ok(CaptureArg::PaperForm),
            Some(_) => out.say2("请输入 1、2 或 3。", "Enter 1, 2 or 3."),
        }
    }
    Err(declined(out.lang, authorization_id))
}

fn ask_capture_ref(out: &Output, authorization_id: &str) -> Result<String, Failure> {
    let question = out.lang.pick(
        "签名板/密码键盘交易号或纸质告知书编号：",
        "Signature pad or PIN pad transaction id, or paper form number: ",
    );
    for _ in 0..MAX_PROMPT_ATTEMPTS {
        match out.ask(question)? {
            None => return Err(declined(out.lang, authorization_id)),
            Some(reference) if check_capture_ref(out.lang, &reference).is_ok() => return Ok(reference),
            Some(_) => out.say2(
                "凭证号不能为空，最多 64 个字符。",
                "The reference must have 1 to 64 characters.",
            ),
        }
    }
    Err(declined(out.lang, authorization_id))
}

/// Has the on-site supervisor check the current content of every
/// authorization in `ids` and co-sign them all with one signature over
/// their current digests.
pub async fn co_sign_on_site(
    api: &Api,
    out: &Output,
    supervisor: &Signer,
    ids: &[String],
    yes: bool,
) -> Result<Vec<Authorization>, Failure> {
    let lang = out.lang;
    let mut current = Vec::with_capacity(ids.len());
    for id in ids {
        current.push(api.get_authorization(id).await?);
    }
    out.say(&out.style.bold(&match lang {
        Lang::ZhCn => format!(
            "—— 营运主管授权（现场）：请主管 {} 核对以下 {} 笔 ——",
            supervisor.staff_id,
            current.len()
        ),
        Lang::En => format!(
            "—— Supervisor co-signature on site: {} checks {} authorization(s) ——",
            supervisor.staff_id,
            current.len()
        ),
    }));
    for authorization in &current {
        out.say(&render::authorization(authorization, lang, out.style));
    }
    if yes {
        out.say2(
            "主管确认：已按 --yes 记录（脚本模式）。",
            "Supervisor approval: taken from --yes (script mode).",
        );
    } else {
        let question = match lang {
            Lang::ZhCn => format!("主管 {} 是否核对无误并授权？", supervisor.staff_id),
            Lang::En => format!("Does supervisor {} approve after checking?", supervisor.staff_id),
        };
        if !out.confirm(&question)? {
            return Err(Failure::NotCompleted(
                lang.pick(
                    "营运主管未授权，未放款；授权保持待处理。",
                    "The supervisor did not approve, so nothing was paid; the authorizations stay pending.",
                )
                .to_owned(),
            ));
        }
    }
    let references: Vec<&Authorization> = current.iter().collect();
    let cosigned = api.co_sign(supervisor.co_sign(&references)).await?;
    out.say(&out.style.good(&match lang {
        Lang::ZhCn => format!("✓ 营运主管 {} 已授权。", supervisor.staff_id),
        Lang::En => format!("✓ Supervisor {} co-signed.", supervisor.staff_id),
    }));
    let values: Vec<serde_json::Value> = cosigned.iter().map(json::authorization).collect();
    out.stage(serde_json::json!({"stage": "cosigned", "authorizations": values}));
    Ok(cosigned)
}

/// Waits until a supervisor at another terminal co-signed every
/// authorization in `ids`, polling GetAuthorization, for at most `wait`.
///
/// Ctrl-C or the time limit stop the wait with exit status 3. Nothing is
/// undone then: the authorizations stay pending and can still be co-signed
/// and released later (teller supervisor cosign, then a new withdraw).
pub async fn wait_for_cosignature(
    api: &Api,
    out: &Output,
    ids: &[String],
    wait: Duration,
) -> Result<Vec<Authorization>, Failure> {
    let lang = out.lang;
    out.say(&match lang {
        Lang::ZhCn => format!(
            "等待营运主管在其他终端授权（teller supervisor cosign {}），最长 {} 秒，按 Ctrl-C 取消……",
            ids.join(" "),
            wait.as_secs()
        ),
        Lang::En => format!(
            "Waiting for a supervisor to co-sign at another terminal (teller supervisor cosign {}), at most {} s; Ctrl-C cancels...",
            ids.join(" "),
            wait.as_secs()
        ),
    });
    out.stage(serde_json::json!({"stage": "waiting_for_cosignature", "authorization_ids": ids}));

    let started = Instant::now();
    let deadline = started + wait;
    let terminal = std::io::stderr().is_terminal();
    let mut last_progress = started;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // Bounded by `deadline`: every pass either returns or sleeps.
    loop {
        let poll = poll_cosigned(api, ids, lang);
        let outcome = tokio::select! {
            _ = &mut ctrl_c => return Err(stopped_waiting(lang, ids, true)),
            outcome = poll => outcome?,
        };
        if let Some(authorizations) = outcome {
            if terminal {
                eprintln!();
            }
            out.say(
                &out.style
                    .good(lang.pick("✓ 营运主管已授权。", "✓ A supervisor co-signed.")),
            );
            return Ok(authorizations);
        }

        let now = Instant::now();
        if now >= deadline {
            if terminal {
                eprintln!();
            }
            return Err(stopped_waiting(lang, ids, false));
        }
        let elapsed = now.duration_since(started).as_secs();
        if terminal {
            eprint!(
                "\r{}",
                match lang {
                    Lang::ZhCn => format!("已等待 {elapsed} 秒……"),
                    Lang::En => format!("waited {elapsed} s..."),
                }
            );
        } else if now.duration_since(last_progress) >= PROGRESS_INTERVAL {
            last_progress = now;
            eprintln!(
                "{}",
                match lang {
                    Lang::ZhCn => format!("已等待 {elapsed} 秒……"),
                    Lang::En => format!("waited {elapsed} s..."),
                }
            );
        }
        tokio::select! {
            _ = &mut ctrl_c => return Err(stopped_waiting(lang, ids, true)),
            _ = tokio::time::sleep(POLL_INTERVAL.min(deadline - now)) => {}
        }
    }
}

/// Returns the authorizations once all are co-signed, `None` while one is
/// still pending, and a failure when one was rejected or can no longer be
/// released.
async fn poll_cosigned(api: &Api, ids: &[String], lang: Lang) -> Result<Option<Vec<Authorization>>, Failure> {
    let mut all = Vec::with_capacity(ids.len());
    for id in ids {
        let authorization = api.get_authorization(id).await?;
        match authorization.state() {
            AuthorizationState::Pending => return Ok(None),
            AuthorizationState::Ready | AuthorizationState::Releasing | AuthorizationState::Released => {}
            AuthorizationState::Rejected => return Err(rejected(&authorization, lang)),
            other => return Err(final_state(&authorization, other, lang)),
        }
        all.push(authorization);
    }
    Ok(Some(all))
}

fn rejected(authorization: &Authorization, lang: Lang) -> Failure {
    let decision = authorization
        .decisions
        .iter()
        .rev()
        .find(|decision| !decision.approved);
    let (supervisor, reason) = decision
        .map(|decision| (decision.supervisor_staff_id.as_str(), decision.reason.as_str()))
        .unwrap_or(("?", ""));
    let id = &authorization.authorization_id;
    Failure::Failed(match lang {
        Lang::ZhCn => format!("错误：营运主管 {supervisor} 已拒绝授权 {id}，未放款。拒绝原因：{reason}"),
        Lang::En => format!(
            "error: supervisor {supervisor} rejected authorization {id}; nothing was paid. Reason: {reason}"
        ),
    })
}

fn final_state(authorization: &Authorization, state: AuthorizationState, lang: Lang) -> Failure {
    let id = &authorization.authorization_id;
    Failure::Failed(match lang {
        Lang::ZhCn => format!(
            "错误：授权 {id} {}，不能放款；请重新获取到期状态证明后重新办理。",
            crate::terms::authorization_state(state, lang)
        ),
        Lang::En => format!(
            "error: authorization {id} is {} and cannot be released: start over with a new attestation.",
            crate::terms::authorization_state(state, lang)
        ),
    })
}

fn stopped_waiting(lang: Lang, ids: &[String], cancelled: bool) -> Failure {
    let ids = ids.join(" ");
    let outcome = match (lang, cancelled) {
        (Lang::ZhCn, true) => "已取消等待",
        (Lang::ZhCn, false) => "等待营运主管授权超时",
        (Lang::En, true) => "Stopped waiting",
        (Lang::En, false) => "Timed out waiting for a co-signature",
    };
    Failure::NotCompleted(match lang {
        Lang::ZhCn => format!(
            "{outcome}，未放款。授权 {ids} 保持待处理：主管授权后用 teller release 授权编号 放款；到期状态证明过期后自动失效。"
        ),
        Lang::En => format!(
            "{outcome}; nothing was paid. Authorization {ids} stays pending: once a supervisor co-signs, pay it with teller release AUTHORIZATION_ID; it expires with its attestation."
        ),
    })
}

/// Releases a co-signed authorization and prints the payout slip. Returns
/// the payout; the caller writes the JSON result.
pub async fn release(api: &Api, out: &Output, authorization_id: &str) -> Result<Payout, Failure> {
    let response = api.release(authorization_id).await?;
    let payout = response.payout.unwrap_or_default();
    out.say(&render::slip(authorization_id, &payout, out.lang));
    Ok(payout)
}

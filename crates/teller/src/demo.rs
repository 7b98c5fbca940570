//! `teller demo`: replays the 2025-02-22 incident against a running stack
//! (bank-dev) for teller training, step by step.
//!
//! Each run opens a fresh training passbook through deposit-status's admin
//! listener, with the incident's two deposits: one maturing on the business
//! date and the unmatured 80,000.00 CNY at 3.00 % for 36 months opened
//! 2022-11-14. So a trainer can run it again and again without a reset, and
//! the incident passbook of bank-dev stays free for hands-on practice.

use std::path::{Path, PathBuf};

use attestation::SigningKey;
use bank_proto::common::SignedEnvelope;
use bank_proto::deposit::{OpenDepositRequest, OpenPassbookRequest};
use bank_proto::withdrawal::{Authorization, IdDocumentType, IdentityCheck, PassbookClosureInstruction};
use chrono::Utc;
use clap::Args;
use grpc_support::convert::to_timestamp;

use crate::authorize::{self, CaptureArg, ConfirmArgs};
use crate::client::{self, Api, ServiceUrls, cny, request_id};
use crate::error::Failure;
use crate::lang::Lang;
use crate::output::Output;
use crate::render;
use crate::signing::{IdentityArgs, Signer};

/// Business date of the incident; the demo's figures assume it.
const INCIDENT_DATE: &str = "2025-02-22";
/// Masked ID number of the demo customer.
const DEMO_ID_NUMBER: &str = "110***********1234";

/// Flags of `teller demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// bank-dev's data folder, which contains the demo staff keys in keys/.
    #[arg(long, default_value = ".bank-dev", value_name = "PATH")]
    pub data_dir: PathBuf,
    /// URL of deposit-status's admin listener, used to open the training
    /// passbook.
    #[arg(
        long,
        env = "TELLER_DEPOSIT_ADMIN_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub deposit_admin_url: String,
    /// The demo teller; the key is DATA_DIR/keys/ID.pem.
    #[arg(long, default_value = "T001")]
    pub teller_id: String,
    /// The demo supervisor; the key is DATA_DIR/keys/ID.pem.
    #[arg(long, default_value = "S001")]
    pub supervisor_id: String,
}

pub async fn run(
    args: &DemoArgs,
    urls: &ServiceUrls,
    identity: &IdentityArgs,
    lang: Lang,
) -> Result<(), Failure> {
    let out = Output::new(lang, false);
    let branch = identity.branch.clone().unwrap_or_else(|| "BR001".to_owned());
    let teller = load_demo_key(&args.data_dir, &args.teller_id, lang)?;
    let supervisor = load_demo_key(&args.data_dir, &args.supervisor_id, lang)?;
    let api = Api::new(urls, lang)?;
    let mut demo = Demo {
        api,
        out,
        lang,
        branch,
        teller,
        supervisor,
        step: 0,
    };
    demo.run(&args.deposit_admin_url).await
}

fn load_demo_key(data_dir: &Path, staff_id: &str, lang: Lang) -> Result<Signer, Failure> {
    let path = data_dir.join("keys").join(format!("{staff_id}.pem"));
    let key = SigningKey::read_pem_file(&path).map_err(|error| {
        Failure::Invalid(match lang {
            Lang::ZhCn => format!(
                "错误：找不到或无法读取演示密钥 {}（{error}）。请先启动演示环境：cargo run --release --bin bank-dev，或用 --data-dir 指向其数据目录。",
                path.display()
            ),
            Lang::En => format!(
                "error: cannot read the demo key {} ({error}). Start the stack first with cargo run --release --bin bank-dev, or point --data-dir at its data folder.",
                path.display()
            ),
        })
    })?;
    Ok(Signer::new(staff_id, key))
}

struct Demo {
    api: Api,
    out: Output,
    lang: Lang,
    branch: String,
    teller: Signer,
    supervisor: Signer,
    step: usize,
}

/// The two deposits of a training passbook.
struct Deposits {
    passbook: String,
    matured: String,
    unmatured: String,
}

impl Demo {
    fn heading(&mut self, zh_cn: &str, en: &str) {
        self.step += 1;
        let text = match self.lang {
            Lang::ZhCn => format!("\n【第 {} 步】{zh_cn}", self.step),
            Lang::En => format!("\n[Step {}] {en}", self.step),
        };
        self.out.say(&self.out.style.bold(&text));
    }

    async fn run(&mut self, deposit_admin_url: &str) -> Result<(), Failure> {
        let lang = self.lang;
        self.out.say(&self.out.style.bold(lang.pick(
            "═══ 培训演示：一本通销户漏查未到期定期存款事故重演（2025-02-22）═══",
            "═══ Training demo: the passbook closure that missed an unmatured time deposit (2025-02-22) ═══",
        )));
        self.out.say2(
            "事故经过：网点为客户办理一本通销户时，未核对其中一笔定期存款尚未到期。80,000.00 元、年利率 3.00%、存期 36 个月、2022-11-14 开户的存款在 2025-02-22 被按活期利率 0.10% 提前支取：利息仅 184.67 元，而到期可得 7,200.00 元，客户损失 7,015.33 元。\n现在每笔支取都需要：到期状态证明（deposit-status 签名）、柜员签名、营运主管授权（每笔必须）；有利息损失时还需客户确认利息损失告知。",
            "What happened: closing a customer's passbook, the branch did not check that one time deposit had not matured. 80,000.00 CNY at 3.00% for 36 months, opened 2022-11-14, was paid early on 2025-02-22 at the 0.10% demand rate: 184.67 of interest instead of 7,200.00, a loss of 7,015.33.\nNow every withdrawal needs deposit-status's signed maturity attestation, the teller's signature and a supervisor's co-signature (always), plus the customer's acknowledgement of the interest-loss disclosure whenever interest is lost.",
        );

        let business_date = self.api.business_date().await?;
        if business_date != INCIDENT_DATE {
            self.out.say(&self.out.style.alert(&match lang {
                Lang::ZhCn => format!(
                    "注意：当前营业日为 {business_date}，不是 {INCIDENT_DATE}，以下利息数字会与事故不同。bank-dev 默认固定营业日为 {INCIDENT_DATE}。"
                ),
                Lang::En => format!(
                    "Note: the business date is {business_date}, not {INCIDENT_DATE}, so the figures below differ from the incident's. bank-dev fixes {INCIDENT_DATE} by default."
                ),
            }));
        }

        let deposits = self.open_training_passbook(deposit_admin_url).await?;

        self.heading(
            "柜员查看一本通内全部定期存款（任何支取前必须查看）",
            "The teller views every deposit in the passbook (required before any withdrawal)",
        );
        let view = self.api.get_passbook(&deposits.passbook).await?;
        self.out.say(&render::passbook(&view, lang, self.out.style));

        self.replay_incident(&deposits).await?;
        let closure = self.submit_closure(&deposits).await?;
        let find = |deposit_id: &str| {
            closure
                .iter()
                .find(|authorization| authorization.deposit_id == deposit_id)
                .cloned()
                .unwrap_or_default()
        };
        let matured = find(&deposits.matured);
        let unmatured = find(&deposits.unmatured);

        self.heading(
            "未经客户确认和主管授权就放款：系统拒绝",
            "Releasing without the customer's acknowledgement and a co-signature: rejected",
        );
        let result = self.api.release(&unmatured.authorization_id).await;
        self.expect_rejection(result, "DISCLOSURE_NOT_ACKNOWLEDGED")?;

        self.heading(
            "向客户出示利息损失告知，客户确认",
            "The customer is shown the interest-loss disclosure and confirms",
        );
        self.out.say2(
            "（演示：客户阅读告知后在电子签名板上签字确认。）",
            "(Demo: the customer reads the disclosure and signs on the signature pad.)",
        );
        let confirm = ConfirmArgs {
            yes: true,
            capture_method: Some(CaptureArg::SignaturePad),
            capture_ref: Some(format!("DEMO-PAD-{}", &request_id()[..8])),
            supervisor_id: None,
            supervisor_key_file: None,
            wait_secs: 0,
        };
        let acknowledged =
            authorize::acknowledge(&self.api, &self.out, &self.teller, &unmatured, &confirm).await?;

        self.heading(
            "客户已确认，但仍无营运主管授权就放款：系统拒绝",
            "Acknowledged, but releasing without a co-signature: rejected",
        );
        let result = self.api.release(&unmatured.authorization_id).await;
        self.expect_rejection(result, "COSIGNATURE_REQUIRED")?;

        self.cosign(&matured, &acknowledged).await?;
        self.release_twice(&matured, &unmatured).await?;

        self.out
            .say(&self.out.style.bold(lang.pick("\n【小结】", "\n[Summary]")));
        self.out.say(&match lang {
            Lang::ZhCn => format!(
                "提前支取未到期存款，客户只得利息 184.67 元，持有到期可得 7,200.00 元，损失 7,015.33 元。系统拒绝了漏列存款的销户，在客户确认告知和主管授权之前拒绝放款，并且只付款一次。\n查看审计记录：teller audit trail --passbook {}\n校验审计日志：teller audit verify",
                deposits.passbook
            ),
            Lang::En => format!(
                "Withdrawn early, the unmatured deposit earns 184.67 instead of 7,200.00 at maturity, a loss of 7,015.33. The system rejected the closure that left it out, refused to pay before the customer's acknowledgement and the co-signature, and paid once.\nAudit trail: teller audit trail --passbook {}\nVerify the log: teller audit verify",
                deposits.passbook
            ),
        });
        Ok(())
    }

    /// Opens a passbook with a new number and the incident's two deposits.
    async fn open_training_passbook(&mut self, deposit_admin_url: &str) -> Result<Deposits, Failure> {
        let lang = self.lang;
        let suffix = request_id()[..8].to_uppercase();
        let deposits = Deposits {
            passbook: format!("PBDEMO-{suffix}"),
            matured: format!("TDDEMO-{suffix}-1"),
            unmatured: format!("TDDEMO-{suffix}-2"),
        };
        self.heading(
            &format!(
                "开立培训存折 {}：两笔定期存款，与事故存折相同（每次演示新开一本，可反复运行）",
                deposits.passbook
            ),
            &format!(
                "Opening training passbook {} with the incident's two deposits (a new one each run, so the demo can be repeated)",
                deposits.passbook
            ),
        );
        let mut admin = client::deposit_admin(deposit_admin_url, lang)?;
        let admin_error = |status: tonic::Status| client::deposit_admin_error(deposit_admin_url, status);
        admin
            .open_passbook(OpenPassbookRequest {
                request_id: request_id(),
                passbook_number: deposits.passbook.clone(),
                customer_id: format!("CDEMO-{suffix}"),
                customer_name: "李秀英".to_owned(),
                masked_id_number: DEMO_ID_NUMBER.to_owned(),
                branch_id: self.branch.clone(),
            })
            .await
            .map_err(admin_error)?;
        for (deposit_id, principal, rate, term, opened) in [
            (&deposits.matured, "50000.00", "1.65", 12, "2024-02-22"),
            (&deposits.unmatured, "80000.00", "3.00", 36, "2022-11-14"),
        ] {
            admin
                .open_deposit(OpenDepositRequest {
                    request_id: request_id(),
                    passbook_number: deposits.passbook.clone(),
                    deposit_id: deposit_id.clone(),
                    principal: Some(cny(principal)),
                    term_months: term,
                    contract_rate_percent: rate.to_owned(),
                    opened_on: opened.to_owned(),
                    product: None,
                })
                .await
                .map_err(admin_error)?;
        }
        Ok(deposits)
    }

    fn identity_check(&self) -> IdentityCheck {
        IdentityCheck {
            depositor_checked: true,
            depositor_id_type: IdDocumentType::ResidentIdCard as i32,
            depositor_masked_id_number: DEMO_ID_NUMBER.to_owned(),
            ..IdentityCheck::default()
        }
    }

    fn closure_instruction(
        &self,
        passbook: &str,
        attestations: Vec<SignedEnvelope>,
    ) -> (String, SignedEnvelope) {
        let request_id = request_id();
        let instruction = PassbookClosureInstruction {
            request_id: request_id.clone(),
            teller_staff_id: self.teller.staff_id.clone(),
            branch_id: self.branch.clone(),
            passbook_number: passbook.to_owned(),
            identity_check: Some(self.identity_check()),
            maturity_attestations: attestations,
            signed_at: Some(to_timestamp(Utc::now())),
        };
        let signed = self.teller.sign(
            bank_proto::payload_type::PASSBOOK_CLOSURE_INSTRUCTION,
            &instruction,
        );
        (request_id, signed)
    }

    /// Submits a closure that lists only the matured deposit, as in the
    /// incident, and shows its rejection.
    async fn replay_incident(&mut self, deposits: &Deposits) -> Result<(), Failure> {
        self.heading(
            "事故重演：柜员办理销户时只列出已到期存款，漏掉未到期存款",
            "The incident replayed: the teller closes the passbook listing only the matured deposit",
        );
        let matured = self
            .api
            .issue_attestation(&deposits.passbook, &deposits.matured, None)
            .await?;
        let (request_id, signed) =
            self.closure_instruction(&deposits.passbook, vec![matured.attestation.unwrap_or_default()]);
        let result = self.api.submit_closure(request_id, signed).await;
        self.expect_rejection(result, "DEPOSIT_MISSING_FROM_CLOSURE")
    }

    /// Submits the correct closure, with one attestation per open deposit.
    async fn submit_closure(&mut self, deposits: &Deposits) -> Result<Vec<Authorization>, Failure> {
        let lang = self.lang;
        self.heading(
            "按规定列出全部存款提交销户：每笔存款一个授权",
            "The closure listing every deposit: one authorization per deposit",
        );
        let mut attestations = Vec::new();
        for deposit_id in [&deposits.matured, &deposits.unmatured] {
            let issued = self
                .api
                .issue_attestation(&deposits.passbook, deposit_id, None)
                .await?;
            attestations.push(issued.attestation.unwrap_or_default());
        }
        let (request_id, signed) = self.closure_instruction(&deposits.passbook, attestations);
        let closure = self.api.submit_closure(request_id, signed).await?;
        for authorization in &closure.authorizations {
            let quote = authorization
                .attestation
                .as_ref()
                .and_then(|attestation| attestation.quote.clone())
                .unwrap_or_default();
            let marker = if render::loses_interest(authorization) {
                self.out.style.alert(&format!(
                    "{} {}",
                    render::UNMATURED_MARKER,
                    lang.pick(
                        "须客户确认告知并单独授权",
                        "needs the customer's acknowledgement and its own co-signature"
                    )
                ))
            } else {
                lang.pick("须主管授权", "needs a co-signature").to_owned()
            };
            self.out.say(&match lang {
                Lang::ZhCn => format!(
                    "  授权 {}：存款 {}，{}，利息 {}，利息损失 {}；{marker}",
                    authorization.authorization_id,
                    authorization.deposit_id,
                    crate::terms::withdrawal_kind(quote.withdrawal_kind(), lang),
                    render::money(quote.interest.as_ref(), lang),
                    render::money(quote.interest_loss.as_ref(), lang)
                ),
                Lang::En => format!(
                    "  Authorization {}: deposit {}, {}, interest {}, lost {}; {marker}",
                    authorization.authorization_id,
                    authorization.deposit_id,
                    crate::terms::withdrawal_kind(quote.withdrawal_kind(), lang),
                    render::money(quote.interest.as_ref(), lang),
                    render::money(quote.interest_loss.as_ref(), lang)
                ),
            });
        }
        Ok(closure.authorizations)
    }

    /// Shows that no co-signature can cover the unmatured deposit together
    /// with another, then co-signs each deposit on its own.
    async fn cosign(&mut self, matured: &Authorization, acknowledged: &Authorization) -> Result<(), Failure> {
        let lang = self.lang;
        self.heading(
            &format!("营运主管 {} 核对并授权", self.supervisor.staff_id),
            &format!("Supervisor {} checks and co-signs", self.supervisor.staff_id),
        );
        self.out
            .say(&render::authorization(acknowledged, lang, self.out.style));
        self.out.say2(
            "试图用一个授权同时批准两笔存款（其中一笔有利息损失）：",
            "Trying one co-signature over both deposits, one of which loses interest:",
        );
        let bulk = self.supervisor.co_sign(&[matured, acknowledged]);
        let result = self.api.co_sign(bulk).await;
        self.expect_rejection(result, "BULK_COSIGNATURE_FORBIDDEN")?;

        for authorization in [acknowledged, matured] {
            self.api
                .co_sign(self.supervisor.co_sign(&[authorization]))
                .await?;
            self.out.say(&self.out.style.good(&match lang {
                Lang::ZhCn => format!(
                    "✓ 营运主管 {} 已单独授权存款 {}",
                    self.supervisor.staff_id, authorization.deposit_id
                ),
                Lang::En => format!(
                    "✓ Supervisor {} co-signed deposit {} on its own",
                    self.supervisor.staff_id, authorization.deposit_id
                ),
            }));
        }
        Ok(())
    }

    /// Releases both, then the unmatured one again to show it pays once.
    async fn release_twice(
        &mut self,
        matured: &Authorization,
        unmatured: &Authorization,
    ) -> Result<(), Failure> {
        let lang = self.lang;
        self.heading("放款并打印支取凭条", "Release and payout slips");
        authorize::release(&self.api, &self.out, &matured.authorization_id).await?;
        let first = authorize::release(&self.api, &self.out, &unmatured.authorization_id).await?;

        self.heading(
            "再次放款（例如网络重试）：只返回同一笔支付，不会重复付款",
            "Releasing again (a network retry, say): the same payout comes back, nothing is paid twice",
        );
        let again = self.api.release(&unmatured.authorization_id).await?;
        let second = again.payout.unwrap_or_default();
        if second != first {
            return Err(Failure::Failed(match lang {
                Lang::ZhCn => format!(
                    "演示失败：第二次放款返回了不同的支付（放款指令 {} 与 {}）。",
                    first.order_id, second.order_id
                ),
                Lang::En => format!(
                    "demo failed: the second release returned another payout (order {} and {}).",
                    first.order_id, second.order_id
                ),
            }));
        }
        self.out.say(&self.out.style.good(&match lang {
            Lang::ZhCn => format!(
                "✓ 第二次放款返回同一放款指令 {}，本金 {}，利息 {}：只付款一次。",
                second.order_id,
                render::money(second.principal.as_ref(), lang),
                render::money(second.interest.as_ref(), lang)
            ),
            Lang::En => format!(
                "✓ The second release returned the same order {}, principal {}, interest {}: paid once.",
                second.order_id,
                render::money(second.principal.as_ref(), lang),
                render::money(second.interest.as_ref(), lang)
            ),
        }));
        Ok(())
    }

    /// Prints the rejection the demo expects, or fails when the request was
    /// accepted or failed for another reason.
    fn expect_rejection<T>(&self, result: Result<T, Failure>, reason: &str) -> Result<(), Failure> {
        let lang = self.lang;
        match result {
            Err(failure) if failure.reason() == Some(reason) => {
                self.out
                    .say(&format!("  → {}", self.out.style.alert(&failure.render(lang))));
                self.out.say(&self.out.style.good(lang.pick(
                    "  ✓ 系统按规定拒绝，未付款。",
                    "  ✓ Rejected as the rules require; nothing was paid.",
                )));
                Ok(())
            }
            Err(failure) => Err(failure),
            Ok(_) => Err(Failure::Failed(match lang {
                Lang::ZhCn => format!("演示失败：预期系统以 {reason} 拒绝，但请求被接受了。"),
                Lang::En => {
                    format!("demo failed: expected a rejection with {reason}, but the request was accepted.")
                }
            })),
        }
    }
}

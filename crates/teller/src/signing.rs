//! The staff member's identity and key, and the signed payloads a teller and
//! a supervisor make: instructions, acknowledgements, co-signatures and
//! rejections.

use std::path::{Path, PathBuf};

use attestation::SigningKey;
use bank_proto::common::SignedEnvelope;
use bank_proto::withdrawal::{Authorization, AuthorizationReference, CoSignature, Rejection};
use chrono::Utc;
use clap::Args;
use grpc_support::convert::{envelope_to_proto, require_identifier, to_timestamp};
use prost::Message;

use crate::error::{Failure, invalid};
use crate::lang::Lang;

/// Who is signing. Every flag also reads an environment variable.
#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    /// Staff id of the person at this terminal, for example T001.
    #[arg(long, global = true, env = "TELLER_STAFF_ID")]
    pub staff_id: Option<String>,
    /// PKCS#8 PEM file of that staff member's Ed25519 key.
    #[arg(long, global = true, env = "TELLER_KEY_FILE", value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Branch id of this terminal, for example BR001.
    #[arg(long, global = true, env = "TELLER_BRANCH")]
    pub branch: Option<String>,
}

impl IdentityArgs {
    /// Returns the branch, or an invalid-input failure naming the flag.
    pub fn branch(&self, lang: Lang) -> Result<String, Failure> {
        let branch = self
            .branch
            .clone()
            .ok_or_else(|| missing(lang, "--branch", "TELLER_BRANCH"))?;
        check_identifier(lang, "--branch", &branch)?;
        Ok(branch)
    }

    /// Loads the signer named by `--staff-id` and `--key-file`.
    pub fn signer(&self, lang: Lang) -> Result<Signer, Failure> {
        let staff_id = self
            .staff_id
            .as_deref()
            .ok_or_else(|| missing(lang, "--staff-id", "TELLER_STAFF_ID"))?;
        let key_file = self
            .key_file
            .as_deref()
            .ok_or_else(|| missing(lang, "--key-file", "TELLER_KEY_FILE"))?;
        Signer::load(staff_id, key_file, lang)
    }
}

fn missing(lang: Lang, flag: &str, variable: &str) -> Failure {
    invalid(
        lang,
        format!("缺少 {flag}（或环境变量 {variable}）。"),
        format!("{flag} is missing: pass it or set {variable}."),
    )
}

/// Rejects an id that the services would reject anyway, before any call.
pub fn check_identifier(lang: Lang, flag: &str, value: &str) -> Result<(), Failure> {
    require_identifier(flag, value).map(|_| ()).map_err(|_| {
        invalid(
            lang,
            format!("{flag} 的值 {value:?} 无效，只能包含字母、数字、“.”、“_”和“-”，最多 64 个字符。"),
            format!(
                "invalid value {value:?} for {flag}: expected 1 to 64 characters of A-Z, a-z, 0-9, \".\", \"_\" and \"-\"."
            ),
        )
    })
}

/// A staff member's id with their private key.
pub struct Signer {
    pub staff_id: String,
    key: SigningKey,
}

impl Signer {
    /// Reads the key file. A missing or malformed file is invalid input.
    pub fn load(staff_id: &str, key_file: &Path, lang: Lang) -> Result<Signer, Failure> {
        check_identifier(lang, "--staff-id", staff_id)?;
        let key = SigningKey::read_pem_file(key_file).map_err(|error| {
            invalid(
                lang,
                format!(
                    "无法读取密钥文件 {}：{error}。应为 PKCS#8 PEM 格式的 Ed25519 私钥（可用 teller keys generate 生成）。",
                    key_file.display()
                ),
                format!(
                    "cannot read the key file {}: {error}. Expected a PKCS#8 PEM Ed25519 private key (see teller keys generate).",
                    key_file.display()
                ),
            )
        })?;
        Ok(Signer {
            staff_id: staff_id.to_owned(),
            key,
        })
    }

    /// Wraps an already loaded key, for the demo.
    pub fn new(staff_id: &str, key: SigningKey) -> Signer {
        Signer {
            staff_id: staff_id.to_owned(),
            key,
        }
    }

    /// Signs the protobuf encoding of `message` as `payload_type`.
    pub fn sign(&self, payload_type: &str, message: &impl Message) -> SignedEnvelope {
        envelope_to_proto(&self.key.sign(payload_type, message.encode_to_vec()))
    }

    /// Signs a co-signature over the current digests of `authorizations`.
    pub fn co_sign(&self, authorizations: &[&Authorization]) -> SignedEnvelope {
        let cosignature = CoSignature {
            supervisor_staff_id: self.staff_id.clone(),
            authorizations: authorizations
                .iter()
                .map(|authorization| reference(authorization))
                .collect(),
            signed_at: Some(to_timestamp(Utc::now())),
        };
        self.sign(bank_proto::payload_type::CO_SIGNATURE, &cosignature)
    }

    /// Signs a rejection of `authorization` at its current digest.
    pub fn reject(&self, authorization: &Authorization, reason: &str) -> SignedEnvelope {
        let rejection = Rejection {
            supervisor_staff_id: self.staff_id.clone(),
            authorization: Some(reference(authorization)),
            reason: reason.to_owned(),
            signed_at: Some(to_timestamp(Utc::now())),
        };
        self.sign(bank_proto::payload_type::REJECTION, &rejection)
    }
}

fn reference(authorization: &Authorization) -> AuthorizationReference {
    AuthorizationReference {
        authorization_id: authorization.authorization_id.clone(),
        authorization_digest: authorization.authorization_digest.clone(),
    }
}

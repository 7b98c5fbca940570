//! Rust code generated from the contracts in the workspace's `proto/` folder:
//! messages, gRPC clients and gRPC servers for deposit-status and
//! withdrawal-authorization, plus the encoded descriptor set for server
//! reflection.
//!
//! This crate contains no logic beyond the names of signed payload types,
//! which must match the fully qualified message names in the `.proto` files.
#![forbid(unsafe_code)]

/// Modules mirror the protobuf packages, because generated code refers to
/// other packages by relative paths (`super::super::...`).
pub mod bank {
    /// Types shared by both services: money, signed envelopes, interest
    /// quotes.
    pub mod common {
        /// Version 1 of the shared types.
        pub mod v1 {
            tonic::include_proto!("bank.common.v1");
        }
    }

    /// The deposit-status service: the system of record for passbooks and
    /// time deposits.
    pub mod deposit {
        /// Version 1 of the deposit-status contract.
        pub mod v1 {
            tonic::include_proto!("bank.deposit.v1");
        }
    }

    /// The withdrawal-authorization service: the four-eyes gate for
    /// releases.
    pub mod withdrawal {
        /// Version 1 of the withdrawal-authorization contract.
        pub mod v1 {
            tonic::include_proto!("bank.withdrawal.v1");
        }
    }
}

pub use bank::common::v1 as common;
pub use bank::deposit::v1 as deposit;
pub use bank::withdrawal::v1 as withdrawal;

/// Encoded `google.protobuf.FileDescriptorSet` of every contract and its
/// imports, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bank_descriptor_set.bin"));

/// `SignedEnvelope.payload_type` values: the fully qualified protobuf name of
/// each signed message. The signature covers this name, so an envelope signed
/// for one of them is never accepted as another.
pub mod payload_type {
    /// A maturity attestation signed by deposit-status.
    pub const MATURITY_ATTESTATION: &str = "bank.deposit.v1.MaturityAttestation";
    /// A release order signed by withdrawal-authorization.
    pub const RELEASE_ORDER: &str = "bank.withdrawal.v1.ReleaseOrder";
    /// A teller's withdrawal instruction (maker).
    pub const WITHDRAWAL_INSTRUCTION: &str = "bank.withdrawal.v1.WithdrawalInstruction";
    /// A teller's passbook closure instruction (maker).
    pub const PASSBOOK_CLOSURE_INSTRUCTION: &str = "bank.withdrawal.v1.PassbookClosureInstruction";
    /// A customer's acknowledgement of a disclosure, signed by the teller.
    pub const DISCLOSURE_ACKNOWLEDGEMENT: &str = "bank.withdrawal.v1.DisclosureAcknowledgement";
    /// A supervisor's co-signature (checker).
    pub const CO_SIGNATURE: &str = "bank.withdrawal.v1.CoSignature";
    /// A supervisor's rejection.
    pub const REJECTION: &str = "bank.withdrawal.v1.Rejection";
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn descriptor_set_names_every_payload_type() {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
            .expect("the build script writes a valid descriptor set");
        let mut names = Vec::new();
        for file in &set.file {
            for message in &file.message_type {
                names.push(format!("{}.{}", file.package(), message.name()));
            }
        }
        for expected in [
            payload_type::MATURITY_ATTESTATION,
            payload_type::RELEASE_ORDER,
            payload_type::WITHDRAWAL_INSTRUCTION,
            payload_type::PASSBOOK_CLOSURE_INSTRUCTION,
            payload_type::DISCLOSURE_ACKNOWLEDGEMENT,
            payload_type::CO_SIGNATURE,
            payload_type::REJECTION,
        ] {
            assert!(names.iter().any(|name| name == expected), "{expected} missing");
        }
    }

    #[test]
    fn descriptor_set_contains_services() {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let services: Vec<String> = set
            .file
            .iter()
            .flat_map(|file| {
                file.service
                    .iter()
                    .map(move |service| format!("{}.{}", file.package(), service.name()))
            })
            .collect();
        for expected in [
            "bank.deposit.v1.DepositStatusService",
            "bank.deposit.v1.DepositAdminService",
            "bank.withdrawal.v1.WithdrawalAuthorizationService",
            "bank.withdrawal.v1.WithdrawalAdminService",
        ] {
            assert!(services.iter().any(|name| name == expected), "{expected} missing");
        }
    }
}

//! `teller keys generate`: a new Ed25519 key pair for a staff member.

use std::path::PathBuf;

use attestation::SigningKey;
use clap::Subcommand;

use crate::error::{Failure, invalid};
use crate::lang::Lang;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write a new key pair: PATH (PKCS#8 PEM private key, mode 0600) and
    /// PATH.pub (PEM public key, for teller staff enroll).
    Generate {
        /// Path of the private key file; neither it nor PATH.pub may exist.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
}

pub fn run(command: &KeysCommand, lang: Lang) -> Result<(), Failure> {
    let KeysCommand::Generate { out } = command;
    let public_path = PathBuf::from(format!("{}.pub", out.display()));
    if public_path.exists() {
        return Err(invalid(
            lang,
            format!(
                "{} 已存在，不会覆盖；请换一个 --out 路径。",
                public_path.display()
            ),
            format!(
                "{} already exists and is never overwritten: choose another --out.",
                public_path.display()
            ),
        ));
    }
    let key = SigningKey::generate();
    let written = key
        .write_pem_file(out)
        .and_then(|()| key.verifying_key().write_pem_file(&public_path));
    written.map_err(|error| {
        invalid(
            lang,
            format!("无法写入密钥文件：{error}"),
            format!("cannot write the key files: {error}"),
        )
    })?;
    match lang {
        Lang::ZhCn => println!(
            "已生成密钥：私钥 {}（仅本人可读），公钥 {}，密钥编号 {}",
            out.display(),
            public_path.display(),
            key.key_id()
        ),
        Lang::En => println!(
            "wrote {} (private, owner-only) and {} (public), key id {}",
            out.display(),
            public_path.display(),
            key.key_id()
        ),
    }
    Ok(())
}

//! Compiles the contracts in the workspace's `proto/` folder with protox, so
//! no system `protoc` is needed, generates the Rust code with
//! tonic-prost-build, and writes the encoded descriptor set that server
//! reflection serves.

use std::path::{Path, PathBuf};

use prost::Message;

/// File name of the encoded `FileDescriptorSet` in `OUT_DIR`.
const DESCRIPTOR_SET_FILE: &str = "bank_descriptor_set.bin";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto").canonicalize()?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut proto_files = Vec::new();
    collect_proto_files(&proto_root, &mut proto_files)?;
    proto_files.sort();

    // compile_fds prints no rerun-if-changed lines, so list every input here;
    // the folder itself catches added and removed files.
    println!("cargo:rerun-if-changed={}", proto_root.display());
    for file in &proto_files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let descriptor_set = protox::compile(&proto_files, [&proto_root])?;
    std::fs::write(out_dir.join(DESCRIPTOR_SET_FILE), descriptor_set.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptor_set)?;
    Ok(())
}

/// Appends every `.proto` file under `dir`, recursively, to `files`.
fn collect_proto_files(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_proto_files(&path, files)?;
        } else if path.extension().is_some_and(|extension| extension == "proto") {
            files.push(path);
        }
    }
    Ok(())
}

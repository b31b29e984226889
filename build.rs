//! Embeds the pretrained policies of `policies/` in the facade crate, so that `drl` resolves
//! from any folder and in an installed binary, and a decision never touches the disk.
//!
//! Every `policies/<name>.policy/` directory becomes one entry of `PRETRAINED` (generated into
//! `OUT_DIR`): its name and the bytes of each file in it.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut out = String::from("/// Pretrained policies compiled in: (name, [(file name, bytes)]).\n");
    out.push_str("pub static PRETRAINED: &[(&str, PolicyFiles)] = &[\n");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    for dir in dirs {
        let Some(name) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".policy"))
        else {
            continue;
        };
        if !dir.is_dir() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("readable policy directory")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let _ = writeln!(out, "    ({name:?}, &[");
        for f in files {
            println!("cargo:rerun-if-changed={}", f.display());
            let file_name = f.file_name().and_then(|n| n.to_str()).expect("utf-8 file name");
            let _ = writeln!(
                out,
                "        ({file_name:?}, include_bytes!({:?})),",
                f.display().to_string()
            );
        }
        out.push_str("    ]),\n");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("pretrained.rs");
    std::fs::write(dest, out).expect("writable OUT_DIR");
}

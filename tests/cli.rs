//! The `sentence-multitask` binary end to end.

mod common;

use std::process::{Command, Output};

use common::{cosine, golden, weights_dir};

fn run(args: &[&str], stdin: &[u8]) -> Output {
    common::run_cli(args, stdin)
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn embedding(v: &serde_json::Value) -> Vec<f32> {
    v["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn embeds_lines_verbatim_and_matches_the_reference() {
    let items = &golden()[..4];
    let mut input = String::new();
    for item in items {
        assert!(!item.text.contains('\n'));
        input.push_str(&item.text);
        input.push('\n');
    }
    input.push_str("\n  padded  \r\nlast line without newline");
    let out = lines(&run(&["embed", "--batch-size", "3"], input.as_bytes()));
    assert_eq!(out.len(), items.len() + 3);
    for (item, line) in items.iter().zip(&out) {
        assert_eq!(line["text"], item.text.as_str());
        assert_eq!(line["tokens"], item.n_tokens);
        assert!(cosine(&embedding(line), &item.embedding) >= 0.99999);
    }
    let tail = &out[items.len()..];
    assert_eq!(tail[0]["text"], "");
    assert_eq!(tail[0]["tokens"], 2);
    assert_eq!(
        tail[1]["text"], "  padded  ",
        "no trimming, CRLF ends the line"
    );
    assert_eq!(tail[2]["text"], "last line without newline");
    assert!(out.iter().all(|l| embedding(l).len() == 384));
}

#[test]
fn jsonl_input_and_file_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    std::fs::write(
        &path,
        "{\"text\": \"héllo 🙂\", \"id\": 1}\n\n{\"text\": \"\"}\n",
    )
    .unwrap();
    let out = lines(&run(
        &["embed", "--jsonl", "--input", path.to_str().unwrap()],
        b"",
    ));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["text"], "héllo 🙂");
    assert_eq!(out[1]["tokens"], 2);
}

#[test]
fn weights_flag_and_environment_variable() {
    let w = weights_dir();
    let out = lines(&run(&["embed", "--weights", w.to_str().unwrap()], b"one\n"));
    assert_eq!(out.len(), 1);
    let out = Command::new(env!("CARGO_BIN_EXE_sentence-multitask"))
        .args(["embed", "--input", "/dev/null"])
        .env(
            "SENTENCE_MULTITASK_WEIGHTS",
            "/nonexistent/weights-from-env",
        )
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/weights-from-env"));
}

#[test]
fn non_utf8_input_fails_naming_the_line() {
    let out = run(&["embed"], b"fine\nbad \xff\xfe byte\n");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("<stdin>, line 2: not valid UTF-8"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn bad_jsonl_fails_naming_the_line() {
    let out = run(
        &["embed", "--jsonl"],
        b"{\"text\": \"a\"}\n{\"txt\": \"b\"}\n",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: no \"text\" field"), "{err}");
    let out = run(&["embed", "--jsonl"], b"not json\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1: not a JSON object"));
}

#[test]
fn missing_weights_dir_names_path_and_command() {
    let out = run(&["embed", "--weights", "/nonexistent/w"], b"x\n");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/w") && err.contains("make weights"),
        "{err}"
    );
}

#[test]
fn missing_input_file_is_named() {
    let out = run(&["embed", "--input", "/nonexistent/input.txt"], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/input.txt"));
}

#[test]
fn zero_batch_size_is_refused_by_the_parser() {
    let out = run(&["embed", "--batch-size", "0"], b"x\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--batch-size"));
}

#[test]
fn help_documents_every_option() {
    let out = run(&["embed", "--help"], b"");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--weights",
        "--input",
        "--jsonl",
        "--batch-size",
        "--threads",
        "SENTENCE_MULTITASK_WEIGHTS",
    ] {
        assert!(help.contains(flag), "{flag} missing from help:\n{help}");
    }
    let out = run(&["--help"], b"");
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["embed", "bench", "import-weights"] {
        assert!(help.contains(cmd), "{cmd} missing from help");
    }
}

#[test]
fn empty_input_gives_empty_output() {
    let out = lines(&run(&["embed"], b""));
    assert!(out.is_empty());
}

/// Defaults are relative to where the binary runs, so a user's build works from
/// any checkout. Debug info keeps the compile directory itself (DWARF's
/// comp_dir), so the check is for the folders a baked-in default would name.
#[test]
fn the_binary_holds_no_path_of_the_build_machine() {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_sentence-multitask")).unwrap();
    for folder in ["weights", "target/embedding-cache", "tests/fixtures"] {
        let baked = format!("{}/{folder}", env!("CARGO_MANIFEST_DIR"));
        let baked = baked.as_bytes();
        assert!(
            !binary.windows(baked.len()).any(|w| w == baked),
            "the binary names {}",
            String::from_utf8_lossy(baked)
        );
    }
}

#[test]
fn a_broken_compact_file_is_named_as_itself() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(weights_dir().join(name), dir.path().join(name)).unwrap();
    }
    let weights = dir.path().to_str().unwrap();
    let missing = run(&["embed", "--compact", "--weights", weights], b"hi\n");
    let msg = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        msg.contains("model-int8.safetensors") && msg.contains("--dtype int8"),
        "a folder without compact weights says how to make them: {msg}"
    );
    std::fs::write(
        dir.path().join("model-int8.safetensors"),
        b"not safetensors",
    )
    .unwrap();
    let broken = run(&["embed", "--compact", "--weights", weights], b"hi\n");
    let msg = String::from_utf8_lossy(&broken.stderr);
    assert!(!broken.status.success());
    assert!(
        msg.contains("model-int8.safetensors: not a readable safetensors file"),
        "{msg}"
    );
}

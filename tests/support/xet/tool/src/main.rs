//! The Xet test tool: the real xet-core library (hf-xet 1.8.0) and xet-core's own local CAS
//! server, for the tests of nix-fetch-model's `git-xet` source. Not part of nix-fetch-model.
//!
//!     xet-test-tool generate OUT        the fixtures of tests/support/fixtures/xet/ (see its README)
//!     xet-test-tool upload DATA FILE... uploads files into the local CAS folder DATA with hf-xet;
//!                                       prints one JSON line per file: path, xetHash, sha256, size
//!     xet-test-tool serve DATA          serves DATA with xet-core's local CAS server on 127.0.0.1
//!                                       (a free port); prints {"url": ...} when ready and runs
//!                                       until its stdin closes
//!
//! A local CAS folder is what hf-xet's `local://<folder>` endpoint writes: `<folder>/xet/xorbs`
//! holds the xorbs and shards, which the local CAS server reads.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;
use xet::xet_session::{Sha256Policy, XetSessionBuilder};

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["generate", out] => generate(Path::new(out)),
        ["upload", data, files @ ..] if !files.is_empty() => {
            let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
            for (path, uploaded) in files.iter().zip(upload(Path::new(data), &files)?) {
                let line = serde_json::json!({
                    "path": path, "xetHash": uploaded.hash, "sha256": uploaded.sha256, "size": uploaded.size,
                });
                println!("{line}");
            }
            Ok(())
        }
        ["serve", data] => serve(Path::new(data)),
        _ => Err("usage: xet-test-tool generate OUT | upload DATA FILE... | serve DATA".into()),
    }
}

struct Uploaded {
    hash: String,
    sha256: String,
    size: u64,
}

/// Uploads `files` into the local CAS folder `data` with hf-xet's session API (one commit): the
/// real chunking, compression, xorbs and shards.
fn upload(data: &Path, files: &[PathBuf]) -> Result<Vec<Uploaded>, Failure> {
    std::fs::create_dir_all(data)?;
    let cache = data.join("client-cache");
    let session = XetSessionBuilder::new().with_cache_dir(&cache).build()?;
    let endpoint = format!("local://{}", std::fs::canonicalize(data)?.display());
    let commit = session
        .new_upload_commit()?
        .with_endpoint(endpoint)
        .build_blocking()?;
    let handles = files
        .iter()
        .map(|file| commit.upload_from_path_blocking(file.clone(), Sha256Policy::Compute))
        .collect::<Result<Vec<_>, _>>()?;
    let mut uploaded = Vec::new();
    for (file, handle) in files.iter().zip(&handles) {
        let meta = handle.finalize_ingestion_blocking()?;
        let sha256 = hex::encode(sha2::Sha256::digest(std::fs::read(file)?));
        if let Some(reported) = &meta.xet_info.sha256 {
            assert_eq!(reported, &sha256, "hf-xet's sha256 of {}", file.display());
        }
        uploaded.push(Uploaded {
            hash: meta.xet_info.hash.clone(),
            sha256,
            size: std::fs::metadata(file)?.len(),
        });
    }
    commit.commit_blocking()?;
    let _ = std::fs::remove_dir_all(cache);
    Ok(uploaded)
}

/// xet-core's local CAS server over the local CAS folder `data`, on a free port of 127.0.0.1,
/// until `stopped` resolves; `ready` gets its URL.
async fn run_server(
    data: &Path,
    ready: tokio::sync::oneshot::Sender<String>,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let config = xet_client::cas_client::LocalServerConfig {
        data_directory: data.join("xet").join("xorbs"),
        host: address.ip().to_string(),
        port: address.port(),
        in_memory: false,
    };
    let context = xet_runtime::core::XetContext::default()?;
    let server = xet_client::cas_client::LocalServer::new(context, config).await?;
    let _ = ready.send(format!("http://{address}"));
    server.serve_until_stopped(listener, stopped).await?;
    Ok(())
}

fn serve(data: &Path) -> Result<(), Failure> {
    let runtime = tokio::runtime::Runtime::new()?;
    let (ready, url) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let data = data.to_path_buf();
    let server = runtime.spawn(async move { run_server(&data, ready, stopped).await.map_err(|e| e.to_string()) });
    let url = runtime.block_on(url)?;
    println!("{}", serde_json::json!({ "url": url, "pid": std::process::id() }));
    std::io::stdout().flush()?;
    // Runs until stdin closes (the test that started it ends), or SIGTERM ends the process.
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    let _ = stop.send(());
    runtime.block_on(server)??;
    Ok(())
}

/// A deterministic byte source (splitmix64), so that the fixtures can be made again.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Incompressible bytes: stored without compression (scheme 0).
    fn random(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Words from a small vocabulary: text LZ4 compresses well (scheme 1).
    fn text(&mut self, len: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "the", "model", "token", "weight", "layer", "attention", "head", "embedding", "norm",
            "bias", "vocab", "merge", "lora", "rank", "adapter", "query", "key", "value",
        ];
        let mut text = Vec::with_capacity(len + 16);
        while text.len() < len {
            let word = WORDS[(self.next() % WORDS.len() as u64) as usize];
            text.extend_from_slice(word.as_bytes());
            text.push(if self.next() % 9 == 0 { b'\n' } else { b' ' });
        }
        text.truncate(len);
        text
    }

    /// A safetensors file of float32 weights: smooth values with noise in the low bits, the data
    /// byte grouping suits (scheme 2).
    fn weights(&mut self, count: usize, phase: f32) -> Vec<u8> {
        let header = format!(
            r#"{{"w":{{"dtype":"F32","shape":[{count}],"data_offsets":[0,{}]}}}}"#,
            4 * count
        );
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header.as_bytes());
        for i in 0..count {
            let smooth = ((i as f32) * 0.001 + phase).sin() * 0.05;
            let noise = (self.next() % 1024) as f32 * 1e-7;
            file.extend_from_slice(&(smooth + noise).to_le_bytes());
        }
        file
    }
}

/// The fixtures: the files of two commits of a repo (`repo/v1`, and in `repo/v2` the files v2
/// changed), uploaded with hf-xet (v1, then what v2 changed, in a second commit), and what xet-core's local CAS server answers for each: the reconstruction
/// JSON of `GET /v1/reconstructions/<xetHash>` as it sent it, and the raw bytes of every xorb
/// that answer names.
fn generate(out: &Path) -> Result<(), Failure> {
    if out.exists() {
        return Err(format!("{} exists: generate into a new folder", out.display()).into());
    }
    let mut bytes = Bytes(0x6e66_6d2d_7865_7431);
    // A file that repeats itself: its second copy is made of chunks of the first.
    let shared = bytes.random(300_000);
    let mut repeated = shared.clone();
    repeated.extend_from_slice(&bytes.text(30_000));
    repeated.extend_from_slice(&shared);
    let weights = bytes.weights(100_000, 0.0);
    let mut weights_v2 = weights[..250_000].to_vec();
    weights_v2.extend_from_slice(&bytes.weights(40_000, 1.0)[8..]);
    let v1: Vec<(&str, Vec<u8>, bool)> = vec![
        ("config.json", br#"{"model_type": "xet-test", "version": 1}"#.to_vec(), false),
        ("model.safetensors", weights, true),
        ("tokenizer.model", bytes.text(150_000), true),
        ("random.bin", bytes.random(150_000), true),
        ("nested/repeated.bin", repeated, true),
        ("legacy.bin", bytes.random(20_000), false),
    ];
    let mut v2 = v1.clone();
    v2[0].1 = br#"{"model_type": "xet-test", "version": 2}"#.to_vec();
    v2[1].1 = weights_v2;

    let data = out.join("cas-data");
    let mut index = BTreeMap::new();
    for (revision, files, changed) in [("v1", &v1, None), ("v2", &v2, Some(&v1))] {
        let folder = out.join("repo").join(revision);
        let mut to_upload = Vec::new();
        for (path, content, xet) in files.iter() {
            // v2 holds only the files it changed: the others are v1's.
            let before = changed.and_then(|old| old.iter().find(|(p, _, _)| p == path));
            if before.is_some_and(|(_, old, _)| old == content) {
                continue;
            }
            let file = folder.join(path);
            std::fs::create_dir_all(file.parent().unwrap())?;
            std::fs::write(&file, content)?;
            if *xet {
                to_upload.push(file);
            }
        }
        for uploaded in upload(&data, &to_upload)? {
            index.insert(uploaded.sha256, serde_json::json!({ "xetHash": uploaded.hash, "size": uploaded.size }));
        }
    }

    let runtime = tokio::runtime::Runtime::new()?;
    let (ready, url) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let server = {
        let data = data.clone();
        runtime.spawn(async move { run_server(&data, ready, stopped).await.map_err(|e| e.to_string()) })
    };
    let cas = out.join("cas");
    std::fs::create_dir_all(cas.join("reconstructions"))?;
    std::fs::create_dir_all(cas.join("xorbs"))?;
    let schemes = runtime.block_on(async {
        let url = url.await?;
        let client = reqwest::Client::new();
        let mut schemes = BTreeSet::new();
        for entry in index.values() {
            let hash = entry["xetHash"].as_str().unwrap();
            let answer = client.get(format!("{url}/v1/reconstructions/{hash}")).send().await?;
            assert!(answer.status().is_success(), "reconstruction of {hash}: {}", answer.status());
            let body = answer.bytes().await?;
            std::fs::write(cas.join("reconstructions").join(format!("{hash}.json")), &body)?;
            let reconstruction: serde_json::Value = serde_json::from_slice(&body)?;
            for (xorb, fetches) in reconstruction["fetch_info"].as_object().unwrap() {
                // The whole xorb: what its presigned URL serves, ranges of it by url_range.
                let fetch_url = fetches[0]["url"].as_str().unwrap();
                let raw = client.get(fetch_url).send().await?.bytes().await?;
                for fetch in fetches.as_array().unwrap() {
                    let start = fetch["url_range"]["start"].as_u64().unwrap() as usize;
                    let end = fetch["url_range"]["end"].as_u64().unwrap() as usize + 1;
                    schemes.extend(chunk_schemes(&raw[start..end]));
                }
                std::fs::write(cas.join("xorbs").join(xorb), &raw)?;
            }
        }
        Ok::<_, Failure>(schemes)
    })?;
    let _ = stop.send(());
    runtime.block_on(server)??;
    std::fs::write(cas.join("index.json"), serde_json::to_string_pretty(&index)? + "\n")?;
    std::fs::remove_dir_all(&data)?;
    eprintln!("compression schemes of the chunks served: {schemes:?}");
    assert_eq!(schemes, BTreeSet::from([0, 1, 2]), "the fixtures should hold chunks of every scheme");
    Ok(())
}

/// The compression scheme byte of every chunk in `range` (a sequence of chunks: an 8-byte header
/// with the compressed length in bytes 1-3, little-endian, then that many bytes).
fn chunk_schemes(mut range: &[u8]) -> Vec<u8> {
    let mut schemes = Vec::new();
    while range.len() >= 8 {
        let compressed = u32::from_le_bytes([range[1], range[2], range[3], 0]) as usize;
        schemes.push(range[4]);
        range = &range[(8 + compressed).min(range.len())..];
    }
    schemes
}

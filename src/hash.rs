//! SHA-256 hashes in the textual forms Nix reads and prints.
//!
//! Nix writes a sha256 hash as SRI (`sha256-<base64>`), as `sha256:<digits>`
//! with base-16, Nix base-32 or base-64 digits, or as bare digits when the
//! algorithm is known from context. Nix's base-32 is not RFC 4648: it has its
//! own alphabet and emits the least significant bits last, so it is
//! implemented here.

use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// Nix's base-32 alphabet: the digits and lowercase letters without `e o u t`.
const NIX32_ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Size of a sha256 digest in bytes.
const SHA256_LEN: usize = 32;
/// Length of a sha256 digest in base-16 digits.
const SHA256_BASE16_LEN: usize = 64;
/// Length of a sha256 digest in Nix base-32 digits.
const SHA256_NIX32_LEN: usize = 52;
/// Length of a sha256 digest in padded base-64.
const SHA256_BASE64_LEN: usize = 44;

/// Base-64 digits of a sha256, without the `=` that may follow them.
const SHA256_BASE64_DIGITS: usize = 43;

/// Base-64 as Nix reads it: standard alphabet, `=` padding optional, unused
/// low bits of the last digit ignored.
const NIX_BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// What was wrong with a hash string. A hash's error reads as the problem line the library's
/// check (lib/hash.nix `parseHash`) gives: `hash '<hash>': <problem>`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    /// The string names an algorithm other than sha256.
    #[error("hash '{hash}': only sha256 is supported, not '{algorithm}'")]
    UnsupportedAlgorithm { hash: String, algorithm: String },
    /// The digits have a length that is none of the sha256 encodings.
    #[error(
        "hash '{hash}': sha256 digits are 64 (base-16), 52 (Nix base-32) or 44 (base-64) \
         characters, not {len}"
    )]
    WrongLength { hash: String, len: usize },
    /// Base-64 digits (after `sha256-`, or 44 characters) that are not 43 and one `=` at most.
    #[error("hash '{hash}': base-64 sha256 digits are 43 characters and at most one '='")]
    WrongBase64Length { hash: String },
    /// A digit is outside the alphabet of the encoding its length implies.
    #[error("hash '{hash}': '{bad_char}' is not a {digits}")]
    BadCharacter {
        hash: String,
        bad_char: char,
        digits: Digits,
    },
    /// 52 Nix base-32 digits that encode a value wider than 32 bytes.
    #[error(
        "hash '{hash}': it is not a valid Nix base-32 sha256 (its high bits overflow 32 bytes)"
    )]
    Nix32Sha256Overflow { hash: String },
    /// Nix base-32 digits that encode a value wider than the digest.
    #[error("Nix base-32 string '{0}' encodes more bits than it has bytes; its first digit is too large")]
    Nix32Overflow(String),
    /// A Nix base-32 string whose length matches no whole number of bytes.
    #[error(
        "Nix base-32 string '{text}' has {len} digits, which no whole number of bytes encodes to"
    )]
    Nix32Length { text: String, len: usize },
    /// A digest of the wrong size.
    #[error("a sha256 digest has 32 bytes, got {0}")]
    DigestLength(usize),
}

/// The encodings of a hash's digits, as an error names one of their digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digits {
    Base16,
    Nix32,
    Base64,
}

impl std::fmt::Display for Digits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Digits::Base16 => f.write_str("base-16 digit"),
            Digits::Nix32 => write!(
                f,
                "Nix base-32 digit (alphabet {})",
                std::str::from_utf8(NIX32_ALPHABET).expect("ASCII")
            ),
            Digits::Base64 => f.write_str("base-64 digit"),
        }
    }
}

/// A sha256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Hash(pub [u8; 32]);

impl Sha256Hash {
    /// Takes a digest as bytes; it must be exactly 32 bytes long.
    pub fn from_digest(digest: &[u8]) -> Result<Self, HashError> {
        let bytes: [u8; SHA256_LEN] = digest
            .try_into()
            .map_err(|_| HashError::DigestLength(digest.len()))?;
        Ok(Self(bytes))
    }

    /// The SRI form Nix prints, `sha256-<base64>`.
    pub fn to_sri(&self) -> String {
        format!("sha256-{}", self.to_base64())
    }

    /// The 44 base-64 digits (with their '=' padding), as `nix hash to-base64` prints.
    pub fn to_base64(&self) -> String {
        NIX_BASE64.encode(self.0)
    }

    /// The 52 Nix base-32 digits, as `nix-hash --type sha256 --base32` prints.
    pub fn to_nix32(&self) -> String {
        nix32_encode(&self.0)
    }

    /// The 64 lowercase base-16 digits.
    pub fn to_base16(&self) -> String {
        let mut digits = [0u8; 64];
        hex::encode_to_slice(self.0, &mut digits).expect("64 hex digits for 32 bytes");
        String::from_utf8(digits.to_vec()).expect("hex digits are ASCII")
    }
}

impl std::fmt::Debug for Sha256Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sha256Hash({})", self.to_sri())
    }
}

impl std::fmt::Display for Sha256Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_sri())
    }
}

impl std::str::FromStr for Sha256Hash {
    type Err = HashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_sha256(s)
    }
}

/// Parses a sha256 hash in any form Nix accepts when it knows the algorithm
/// is sha256: `sha256-<base64>` (SRI), `sha256:<digits>`, or bare digits,
/// where the digits are 64 base-16, 52 Nix base-32 or 44 base-64 characters. A refused hash is
/// refused at the step, and in the words, of the library's `parseHash` (lib/hash.nix): the
/// first `:` splits off the algorithm; else a `-` after letters and digits does (the digits are
/// then base-64); else the length of the digits says their base.
pub fn parse_sha256(s: &str) -> Result<Sha256Hash, HashError> {
    if let Some((algorithm, digits)) = s.split_once(':') {
        require_sha256(s, algorithm)?;
        parse_digits_by_length(s, digits)
    } else if let Some((algorithm, digits)) = sri_split(s) {
        require_sha256(s, algorithm)?;
        parse_base64(s, digits)
    } else {
        parse_digits_by_length(s, s)
    }
}

/// `<algorithm>-<digits>` when the algorithm is letters and digits (the regex
/// `([A-Za-z0-9]+)-(.*)`).
fn sri_split(hash: &str) -> Option<(&str, &str)> {
    let (algorithm, digits) = hash.split_once('-')?;
    let alphanumeric =
        !algorithm.is_empty() && algorithm.bytes().all(|b| b.is_ascii_alphanumeric());
    alphanumeric.then_some((algorithm, digits))
}

fn require_sha256(hash: &str, algorithm: &str) -> Result<(), HashError> {
    if algorithm == "sha256" {
        Ok(())
    } else {
        Err(HashError::UnsupportedAlgorithm {
            hash: hash.to_owned(),
            algorithm: algorithm.to_owned(),
        })
    }
}

/// Decodes unprefixed digits, choosing the encoding by length as Nix does.
fn parse_digits_by_length(hash: &str, digits: &str) -> Result<Sha256Hash, HashError> {
    match digits.len() {
        SHA256_BASE16_LEN => parse_base16(hash, digits),
        SHA256_NIX32_LEN => parse_nix32(hash, digits),
        SHA256_BASE64_LEN => parse_base64(hash, digits),
        len => Err(HashError::WrongLength {
            hash: hash.to_owned(),
            len,
        }),
    }
}

fn first_bad_digit(
    hash: &str,
    digits: &str,
    valid: impl Fn(char) -> bool,
    kind: Digits,
) -> Result<(), HashError> {
    match digits.chars().find(|&c| !valid(c)) {
        Some(bad_char) => Err(HashError::BadCharacter {
            hash: hash.to_owned(),
            bad_char,
            digits: kind,
        }),
        None => Ok(()),
    }
}

fn parse_base16(hash: &str, digits: &str) -> Result<Sha256Hash, HashError> {
    first_bad_digit(hash, digits, |c| c.is_ascii_hexdigit(), Digits::Base16)?;
    let bytes = hex::decode(digits).expect("hex digits were checked");
    Sha256Hash::from_digest(&bytes)
}

fn parse_nix32(hash: &str, digits: &str) -> Result<Sha256Hash, HashError> {
    first_bad_digit(
        hash,
        digits,
        |c| nix32_digit_value(c).is_some(),
        Digits::Nix32,
    )?;
    let bytes = nix32_decode(digits).map_err(|error| match error {
        HashError::Nix32Overflow(_) => HashError::Nix32Sha256Overflow {
            hash: hash.to_owned(),
        },
        other => other,
    })?;
    Sha256Hash::from_digest(&bytes)
}

/// 43 digits, then at most one `=`.
fn parse_base64(hash: &str, digits: &str) -> Result<Sha256Hash, HashError> {
    let body = digits.trim_end_matches('=');
    let is_base64_char = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
    first_bad_digit(hash, body, is_base64_char, Digits::Base64)?;
    if body.len() != SHA256_BASE64_DIGITS || digits.len() > SHA256_BASE64_LEN {
        return Err(HashError::WrongBase64Length {
            hash: hash.to_owned(),
        });
    }
    let mut bytes = [0u8; SHA256_LEN + 1];
    let len = NIX_BASE64
        .decode_slice(body, &mut bytes)
        .expect("43 base-64 digits were checked");
    Sha256Hash::from_digest(&bytes[..len])
}

/// Number of Nix base-32 digits for `byte_count` bytes (52 for sha256, 32 for a store path hash).
fn nix32_len(byte_count: usize) -> usize {
    if byte_count == 0 {
        0
    } else {
        (byte_count * 8 - 1) / 5 + 1
    }
}

/// Encodes bytes in Nix's base-32: digit `n` (counting from the end of the
/// string) holds bits `5n .. 5n+4` of the bytes read as a little-endian number.
pub fn nix32_encode(bytes: &[u8]) -> String {
    let digits: Vec<u8> = (0..nix32_len(bytes.len()))
        .rev()
        .map(|digit_index| NIX32_ALPHABET[nix32_digit_at(bytes, digit_index) as usize])
        .collect();
    String::from_utf8(digits).expect("the nix32 alphabet is ASCII")
}

fn nix32_digit_at(bytes: &[u8], digit_index: usize) -> u8 {
    let bit = digit_index * 5;
    let (byte, shift) = (bit / 8, bit % 8);
    let low = bytes[byte] >> shift;
    let high = match bytes.get(byte + 1) {
        Some(next) if shift > 3 => next << (8 - shift),
        _ => 0,
    };
    (low | high) & 0x1f
}

/// Decodes Nix base-32; the byte count follows from the length (52 digits
/// give 32 bytes, 32 give 20).
pub fn nix32_decode(text: &str) -> Result<Vec<u8>, HashError> {
    let byte_count = text.len() * 5 / 8;
    if nix32_len(byte_count) != text.len() {
        return Err(HashError::Nix32Length {
            text: text.to_owned(),
            len: text.len(),
        });
    }
    let mut bytes = vec![0u8; byte_count];
    for (digit_index, c) in text.chars().rev().enumerate() {
        let digit = nix32_digit_value(c).ok_or_else(|| HashError::BadCharacter {
            hash: text.to_owned(),
            bad_char: c,
            digits: Digits::Nix32,
        })?;
        add_nix32_digit(&mut bytes, digit_index, digit)
            .map_err(|()| HashError::Nix32Overflow(text.to_owned()))?;
    }
    Ok(bytes)
}

fn nix32_digit_value(c: char) -> Option<u8> {
    let position = NIX32_ALPHABET.iter().position(|&d| d as char == c)?;
    Some(position as u8)
}

/// ORs a digit's five bits into place; fails if bits would fall past the last byte.
fn add_nix32_digit(bytes: &mut [u8], digit_index: usize, digit: u8) -> Result<(), ()> {
    let bit = digit_index * 5;
    let (byte, shift) = (bit / 8, bit % 8);
    bytes[byte] |= digit << shift;
    let spill = if shift > 3 { digit >> (8 - shift) } else { 0 };
    match bytes.get_mut(byte + 1) {
        Some(next) => *next |= spill,
        None if spill != 0 => return Err(()),
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::process::Command;

    fn sample_hashes() -> Vec<Sha256Hash> {
        let mut hashes = vec![Sha256Hash([0; 32]), Sha256Hash([0xff; 32])];
        for input in ["", "abc", "nix-fetch-model", "hello\n"] {
            hashes.push(Sha256Hash::from_digest(&Sha256::digest(input.as_bytes())).unwrap());
        }
        hashes.push(Sha256Hash(std::array::from_fn(|i| i as u8)));
        hashes
    }

    /// Runs a command and returns its trimmed stdout, or None if it failed to run or exited non-zero.
    fn run(program: &str, args: &[&str]) -> Option<String> {
        let output = Command::new(program).args(args).output().ok()?;
        if !output.status.success() {
            return None;
        }
        Some(String::from_utf8(output.stdout).ok()?.trim().to_owned())
    }

    fn nix_hash_available() -> bool {
        let available = run("nix-hash", &["--version"]).is_some();
        if !available {
            println!("SKIP: nix-hash is not installed, so Nix cannot be used as the oracle");
        }
        available
    }

    /// SRI from Nix: `nix-hash --to-sri` where it exists (Nix >= 2.9), else `nix hash to-sri`.
    fn nix_to_sri(base16: &str) -> String {
        run("nix-hash", &["--type", "sha256", "--to-sri", base16])
            .or_else(|| nix_hash_to("to-sri", base16))
            .expect("neither 'nix-hash --to-sri' nor 'nix hash to-sri' worked")
    }

    /// `nix hash <conversion> --type sha256 <base16>` (Nix 2.4 and later).
    fn nix_hash_to(conversion: &str, base16: &str) -> Option<String> {
        let args = ["--extra-experimental-features", "nix-command", "hash"];
        run(
            "nix",
            &[&args[..], &[conversion, "--type", "sha256", base16]].concat(),
        )
    }

    #[test]
    fn known_vector_of_empty_string() {
        let hash = Sha256Hash::from_digest(&Sha256::digest(b"")).unwrap();
        assert_eq!(
            hash.to_base16(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hash.to_nix32(),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
        assert_eq!(
            hash.to_sri(),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn every_form_parses_back_to_the_same_hash() {
        for hash in sample_hashes() {
            let forms = [
                hash.to_sri(),
                hash.to_sri().trim_end_matches('=').to_owned(),
                hash.to_nix32(),
                hash.to_base16(),
                hash.to_base16().to_uppercase(),
                format!("sha256:{}", hash.to_nix32()),
                format!("sha256:{}", hash.to_base16()),
                format!("sha256:{}", NIX_BASE64.encode(hash.0)),
                NIX_BASE64.encode(hash.0),
            ];
            for form in forms {
                assert_eq!(parse_sha256(&form), Ok(hash), "form {form}");
            }
        }
    }

    #[test]
    fn nix32_round_trips_for_all_lengths() {
        for len in 0..40usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = nix32_encode(&bytes);
            assert_eq!(text.len(), nix32_len(len));
            assert_eq!(nix32_decode(&text).unwrap(), bytes, "length {len}");
        }
    }

    #[test]
    fn nix32_rejects_overflowing_first_digit() {
        // 52 digits carry 260 bits; the top 4 bits must be zero, so the first digit is at most '1'.
        let max = Sha256Hash([0xff; 32]).to_nix32();
        assert!(max.starts_with('1'));
        let overflowing = format!("2{}", &max[1..]);
        assert_eq!(
            nix32_decode(&overflowing),
            Err(HashError::Nix32Overflow(overflowing.clone()))
        );
        assert!(parse_sha256(&overflowing).is_err());
    }

    #[test]
    fn nix32_rejects_impossible_length() {
        // One byte takes 2 digits and two bytes take 4, so no byte string has 3.
        assert!(matches!(
            nix32_decode("000"),
            Err(HashError::Nix32Length { len: 3, .. })
        ));
    }

    /// The library's `parseHash` steps: the first ':' splits off the algorithm, else a '-' after
    /// letters and digits does, else the length says the base; the first bad digit is named.
    #[test]
    fn errors_follow_the_steps_and_words_of_the_library() {
        let hash = sample_hashes()[2];
        let (base16, nix32) = (hash.to_base16(), hash.to_nix32());
        let base64 = NIX_BASE64.encode(hash.0);
        let lengths = "sha256 digits are 64 (base-16), 52 (Nix base-32) or 44 (base-64) characters";
        let base64_length = "base-64 sha256 digits are 43 characters and at most one '='";
        let cases = [
            (
                format!("sha512-{base64}"),
                "only sha256 is supported, not 'sha512'".to_string(),
            ),
            (
                format!("md5:{base16}"),
                "only sha256 is supported, not 'md5'".into(),
            ),
            (
                format!("SHA256:{base16}"),
                "only sha256 is supported, not 'SHA256'".into(),
            ),
            (
                format!(":{base16}"),
                "only sha256 is supported, not ''".into(),
            ),
            (base16[1..].to_owned(), format!("{lengths}, not 63")),
            (String::new(), format!("{lengths}, not 0")),
            // No letters or digits before the '-': no algorithm, so bare digits.
            ("-abc".into(), format!("{lengths}, not 4")),
            ("a.b-abc".into(), format!("{lengths}, not 7")),
            (format!("sha256-{base16}"), base64_length.into()),
            (format!("sha256-{base64}="), base64_length.into()),
            (
                format!("sha256:{}", &nix32[..51]),
                format!("{lengths}, not 51"),
            ),
            (
                format!("o{}e", &nix32[1..51]),
                "'o' is not a Nix base-32 digit (alphabet 0123456789abcdfghijklmnpqrsvwxyz)".into(),
            ),
            (
                format!("x{}g", &base16[1..63]),
                "'x' is not a base-16 digit".into(),
            ),
            (
                format!("sha256-{}_", &base64[..42]),
                "'_' is not a base-64 digit".into(),
            ),
            (
                format!("2{}", &Sha256Hash([0xff; 32]).to_nix32()[1..]),
                "it is not a valid Nix base-32 sha256 (its high bits overflow 32 bytes)".into(),
            ),
        ];
        for (input, problem) in cases {
            let message = parse_sha256(&input)
                .expect_err(&format!("'{input}' should be rejected"))
                .to_string();
            assert_eq!(message, format!("hash '{input}': {problem}"));
        }
    }

    #[test]
    fn from_digest_requires_32_bytes() {
        assert_eq!(
            Sha256Hash::from_digest(&[0; 20]),
            Err(HashError::DigestLength(20))
        );
    }

    #[test]
    fn encodings_agree_with_nix_hash() {
        if !nix_hash_available() {
            return;
        }
        for hash in sample_hashes() {
            let base16 = hash.to_base16();
            let nix32 = run("nix-hash", &["--type", "sha256", "--to-base32", &base16]).unwrap();
            assert_eq!(hash.to_nix32(), nix32);
            let back = run("nix-hash", &["--type", "sha256", "--to-base16", &nix32]).unwrap();
            assert_eq!(base16, back);
            assert_eq!(hash.to_sri(), nix_to_sri(&base16));
            let base64 = nix_hash_to("to-base64", &base16).expect("'nix hash to-base64' worked");
            assert_eq!(hash.to_base64(), base64);
            assert_eq!(parse_sha256(&nix32), Ok(hash));
        }
    }
}

//! The benchmark's module hash, `graph_util.hash_module` (google-research/nasbench): an
//! iterated MD5 over vertex labels and degrees, in the manner of Weisfeiler–Lehman.
//!
//! Each vertex starts as `md5(str((out_degree, in_degree, label)))` (Python's tuple text,
//! e.g. `(2, 0, -1)`); then V times, every vertex becomes
//! `md5(sorted in-neighbour hashes joined + '|' + sorted out-neighbour hashes joined + '|' +
//! own hash)`; the fingerprint is `md5(str(sorted(hashes)))` (Python's list text,
//! `['…', '…']`). Labels: −1 input, −2 output, else the operation's index in
//! `['conv3x3-bn-relu', 'conv1x1-bn-relu', 'maxpool3x3']`. Isomorphic labelled graphs hash
//! equal by construction; the benchmark's 423,624 cells have distinct hashes (it was checked
//! when the table was made), which is what makes the hash the join key of its table. Every
//! string is ASCII, so the bytes hashed here equal Python's `str.encode('utf-8')`.
//!
//! MD5 itself (RFC 1321) is written out below, 40 lines, rather than taken as a dependency:
//! it is checked against the RFC's test suite and, through the module hashes, against Python's
//! hashlib.

/// Per-round shift amounts (RFC 1321, §3.4).
const SHIFTS: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15,
    21,
];

/// MD5 of `bytes` (RFC 1321): the 16-byte digest.
pub fn md5(bytes: &[u8]) -> [u8; 16] {
    // K[i] = floor(2^32 · |sin(i + 1)|)
    let k: Vec<u32> = (0..64).map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32).collect();
    let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut message = bytes.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((bytes.len() as u64).wrapping_mul(8)).to_le_bytes());
    for block in message.chunks_exact(64) {
        let m: Vec<u32> = block.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a.wrapping_add(f).wrapping_add(k[i]).wrapping_add(m[g]).rotate_left(SHIFTS[i]);
            (a, d, c) = (d, c, b);
            b = b.wrapping_add(rotated);
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
    let mut digest = [0u8; 16];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_le_bytes());
    }
    digest
}

fn md5_hex(text: &str) -> String {
    md5(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `graph_util.hash_module(matrix, labeling)`: `matrix` square (any 0/1 matrix: the
/// reference does not require it triangular), `labeling` one label per vertex.
pub fn hash_module(matrix: &[Vec<u8>], labeling: &[i64]) -> String {
    let n = labeling.len();
    let edge = |from: usize, to: usize| matrix[from][to] != 0;
    let mut hashes: Vec<String> = (0..n)
        .map(|v| {
            let out_degree = (0..n).filter(|&w| edge(v, w)).count();
            let in_degree = (0..n).filter(|&w| edge(w, v)).count();
            md5_hex(&format!("({out_degree}, {in_degree}, {})", labeling[v]))
        })
        .collect();
    for _ in 0..n {
        hashes = (0..n)
            .map(|v| {
                let mut ins: Vec<&str> = (0..n).filter(|&w| edge(w, v)).map(|w| hashes[w].as_str()).collect();
                let mut outs: Vec<&str> = (0..n).filter(|&w| edge(v, w)).map(|w| hashes[w].as_str()).collect();
                ins.sort_unstable();
                outs.sort_unstable();
                md5_hex(&format!("{}|{}|{}", ins.concat(), outs.concat(), hashes[v]))
            })
            .collect();
    }
    hashes.sort_unstable();
    let listed: Vec<String> = hashes.iter().map(|h| format!("'{h}'")).collect();
    md5_hex(&format!("[{}]", listed.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_rfc_1321() {
        // RFC 1321, appendix A.5
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(md5_hex("a"), "0cc175b9c0f1b6a831c399e269772661");
        assert_eq!(md5_hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
        assert_eq!(md5_hex("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b");
        assert_eq!(
            md5_hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
            "d174ab98d277d9f5a5611c2c9f419d9f"
        );
        // 80 bytes: two blocks
        assert_eq!(md5_hex(&"1234567890".repeat(8)), "57edf4a22be3c955ac49da2e2107b67a");
    }
}

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
//! MD5 (RFC 1321) is the `md-5` crate's; the module hashes are checked against those the
//! reference computed (`tests/fixtures/nasbench`).

fn md5_hex(text: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
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

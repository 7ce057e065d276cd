//! The `repspace` binary; everything it does lives in the `repspace-cli` crate.
fn main() -> std::process::ExitCode {
    repspace_cli::main()
}

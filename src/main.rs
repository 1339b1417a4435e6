//! The `dusk` command. All of it lives in [`dusk::cli`], so a user who registers their
//! own task functions builds the same command with one call.

fn main() -> std::process::ExitCode {
    dusk::main()
}

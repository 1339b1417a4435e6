//! The `dusk` command. All of it lives in [`dusk::cli`], so a user who registers their
//! own task functions builds the same command with one call.

/// mimalloc: the scheduler allocates and frees a few small objects per task, and the
/// system allocator's consolidation showed up at ~10 % of its time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dusk::main()
}

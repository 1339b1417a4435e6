//! The system OpenBLAS behind array matmul (the `openblas` feature): one thread per call,
//! and the right kernels.
//!
//! A worker runs one task per thread, so each GEMM call stays on its caller's thread
//! (OpenBLAS would otherwise start its own pool on every core and oversubscribe the
//! machine). OpenBLAS picks its kernels when the library loads; releases older than the
//! CPU fall back to SSE3 ("Prescott") kernels that run GEMM ~4x slower than the AVX-512
//! ones. [`core_type_override`] names the kernels to ask for instead, through
//! `OPENBLAS_CORETYPE`, which must be set before the process starts: `dusk` re-executes
//! itself once with it set.

use std::ffi::{CStr, c_char, c_int};

// Link the BLAS implementation ndarray's `blas` feature calls into.
extern crate blas_src;

unsafe extern "C" {
    fn openblas_set_num_threads(n: c_int);
    fn openblas_get_corename() -> *const c_char;
}

/// Makes each BLAS call run on its caller's thread only.
pub fn single_threaded() {
    // SAFETY: a plain setter in OpenBLAS with no preconditions.
    unsafe { openblas_set_num_threads(1) }
}

/// The kernel family OpenBLAS chose at load time, e.g. `SkylakeX` or `Prescott`.
pub fn core_name() -> String {
    // SAFETY: OpenBLAS returns a pointer to a static NUL-terminated string.
    unsafe {
        let name = openblas_get_corename();
        if name.is_null() { String::new() } else { CStr::from_ptr(name).to_string_lossy().into_owned() }
    }
}

/// The `OPENBLAS_CORETYPE` to restart with, when OpenBLAS did not recognise this CPU and
/// fell back to generic kernels although the CPU has wider ones; `None` when it is fine
/// or the user chose a core type already.
pub fn core_type_override() -> Option<&'static str> {
    if std::env::var_os("OPENBLAS_CORETYPE").is_some() {
        return None;
    }
    let name = core_name().to_ascii_lowercase();
    if !matches!(name.as_str(), "prescott" | "core2" | "nehalem" | "katmai" | "") {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512dq") {
            return Some("SkylakeX");
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Some("Haswell");
        }
    }
    None
}

/// Restarts this process with `OPENBLAS_CORETYPE` set when [`core_type_override`] names
/// better kernels; processes started from it inherit the setting. Returns only when no
/// restart is needed or it failed (then the generic kernels are used).
pub fn restart_with_better_kernels() {
    use std::os::unix::process::CommandExt;
    let Some(core) = core_type_override() else { return };
    let Ok(exe) = std::env::current_exe() else { return };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("OPENBLAS_CORETYPE", core)
        .exec();
    eprintln!("warning: could not restart with OPENBLAS_CORETYPE={core}: {err}");
}

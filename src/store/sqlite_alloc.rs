//! SQLite's memory through mimalloc. SQLite allocates through the C library's malloc unless told
//! otherwise, and in payment profiles glibc's allocator (pages for B-tree balancing, the page
//! cache) was an eighth of the writer thread's time; the rest of the process already uses
//! mimalloc. SQLite's memory statistics are switched off with it (a global mutex per
//! allocation).

use std::os::raw::{c_int, c_void};
use std::sync::Once;

use rusqlite::ffi;

/// Each block carries its size in front (SQLite asks for it back), keeping 8-byte alignment.
const HEADER: usize = 8;

unsafe extern "C" fn x_malloc(size: c_int) -> *mut c_void {
    let Ok(size) = usize::try_from(size) else {
        return std::ptr::null_mut();
    };
    // SAFETY: mi_malloc returns null or a block of at least `HEADER + size` bytes, 16-aligned.
    unsafe {
        let base = libmimalloc_sys::mi_malloc(HEADER + size) as *mut u8;
        if base.is_null() {
            return std::ptr::null_mut();
        }
        (base as *mut u64).write(size as u64);
        base.add(HEADER) as *mut c_void
    }
}

unsafe extern "C" fn x_free(block: *mut c_void) {
    if block.is_null() {
        return;
    }
    // SAFETY: `block` came from x_malloc or x_realloc, which handed out base + HEADER.
    unsafe { libmimalloc_sys::mi_free((block as *mut u8).sub(HEADER) as *mut c_void) }
}

unsafe extern "C" fn x_realloc(block: *mut c_void, size: c_int) -> *mut c_void {
    if block.is_null() {
        // SAFETY: a fresh allocation.
        return unsafe { x_malloc(size) };
    }
    let Ok(size) = usize::try_from(size) else {
        return std::ptr::null_mut();
    };
    // SAFETY: `block` came from this allocator; mi_realloc keeps the header's bytes.
    unsafe {
        let base = (block as *mut u8).sub(HEADER) as *mut c_void;
        let moved = libmimalloc_sys::mi_realloc(base, HEADER + size) as *mut u8;
        if moved.is_null() {
            return std::ptr::null_mut();
        }
        (moved as *mut u64).write(size as u64);
        moved.add(HEADER) as *mut c_void
    }
}

unsafe extern "C" fn x_size(block: *mut c_void) -> c_int {
    if block.is_null() {
        return 0;
    }
    // SAFETY: `block` came from this allocator: its size sits in the header before it.
    unsafe { ((block as *mut u8).sub(HEADER) as *const u64).read() as c_int }
}

unsafe extern "C" fn x_roundup(size: c_int) -> c_int {
    (size + 7) & !7
}

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {}

/// Installs the allocator; must run before SQLite's first use (later, SQLite refuses and keeps
/// its own, which is only slower).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let methods = ffi::sqlite3_mem_methods {
            xMalloc: Some(x_malloc),
            xFree: Some(x_free),
            xRealloc: Some(x_realloc),
            xSize: Some(x_size),
            xRoundup: Some(x_roundup),
            xInit: Some(x_init),
            xShutdown: Some(x_shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: SQLITE_CONFIG_MALLOC copies the methods table; the functions live forever.
        let code = unsafe {
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_MALLOC,
                &methods as *const ffi::sqlite3_mem_methods,
            )
        };
        if code != ffi::SQLITE_OK {
            tracing::debug!(
                code,
                "SQLite was already initialised: it keeps the C allocator"
            );
            return;
        }
        // Sluice reads none of SQLite's memory statistics, and keeping them takes a global
        // mutex around every allocation and free (about 30 of each per payment on the writer).
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int; SQLite is not initialised yet.
        unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::os::raw::c_int) };
    });
}

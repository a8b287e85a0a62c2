//! The plugin's allocator on wasm32 (feature `arena`, on by default): a bump allocator
//! over a static arena, so a call never grows its linear memory.
//!
//! Every call runs in a fresh instance that is thrown away after it, so memory never
//! needs to be given back. Rust's default allocator on `wasm32-unknown-unknown` takes
//! every block of heap with `memory.grow`, past the module's initial memory; on the
//! host, each growth changes the protection of the pages of a pooled memory slot, and
//! putting them back after the call changes it again — two TLB shootdowns across the
//! host's cores per call (BENCHMARKS.md, "Plugins"). The arena is a static array, so it
//! is part of the initial memory (in `.bss`: it adds nothing to the module's size), and
//! a call that fits in it never grows memory. Past it, the allocator grows memory as it
//! needs, a few pages at a time.
//!
//! Freeing gives back only the last block (so a vector that grows at the end of the
//! arena is resized in place); anything else stays used until the call ends. A plugin
//! that allocates and frees far more than it keeps in one call should turn the feature
//! off (`default-features = false`) and use std's allocator.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

/// Bytes of the static arena: room for requests and answers many times the examples'.
const ARENA_BYTES: usize = 1 << 20;

/// The size of a WebAssembly page.
const PAGE: usize = 64 << 10;

/// The arena's bytes.
#[repr(C, align(16))]
struct Region(UnsafeCell<[u8; ARENA_BYTES]>);

// SAFETY: wasm32-unknown-unknown without the threads feature runs one thread.
unsafe impl Sync for Region {}

static REGION: Region = Region(UnsafeCell::new([0; ARENA_BYTES]));

/// The bump allocator: where the next block starts, and the end of the region it is in
/// (both 0 until the first allocation).
pub struct Arena {
    bounds: UnsafeCell<(usize, usize)>,
}

// SAFETY: one thread (see `Region`).
unsafe impl Sync for Arena {}

impl Arena {
    /// An allocator that has handed out nothing.
    pub const fn new() -> Self {
        Self {
            bounds: UnsafeCell::new((0, 0)),
        }
    }

    fn bounds(&self) -> (usize, usize) {
        // SAFETY: one thread, and no reference to the cell's content outlives a call.
        let (next, end) = unsafe { *self.bounds.get() };
        if end == 0 {
            let start = REGION.0.get() as usize;
            (start, start + ARENA_BYTES)
        } else {
            (next, end)
        }
    }

    fn set_bounds(&self, next: usize, end: usize) {
        // SAFETY: as in `bounds`.
        unsafe { *self.bounds.get() = (next, end) };
    }

    /// A block for `layout` after `next`, in `..end` or in pages grown for it.
    fn bump(&self, layout: Layout) -> *mut u8 {
        let (next, end) = self.bounds();
        if let Some((start, stop)) = fit(next, end, layout) {
            self.set_bounds(stop, end);
            return start as *mut u8;
        }
        let Some(pages) = layout
            .size()
            .checked_add(layout.align())
            .map(|bytes| bytes.div_ceil(PAGE))
        else {
            return core::ptr::null_mut();
        };
        let first = core::arch::wasm32::memory_grow(0, pages);
        if first == usize::MAX {
            return core::ptr::null_mut();
        }
        let (next, end) = (first * PAGE, (first + pages) * PAGE);
        match fit(next, end, layout) {
            Some((start, stop)) => {
                self.set_bounds(stop, end);
                start as *mut u8
            }
            None => core::ptr::null_mut(),
        }
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a block of `layout` starts and ends if it fits in `next..end`.
fn fit(next: usize, end: usize, layout: Layout) -> Option<(usize, usize)> {
    let start = next.checked_next_multiple_of(layout.align())?;
    let stop = start.checked_add(layout.size())?;
    (stop <= end).then_some((start, stop))
}

// SAFETY: blocks are disjoint (each starts at or after the end of the one before, or
// reuses the last one only once it is freed), aligned as asked and within memory the
// module owns (the static region, or pages `memory.grow` just added).
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.bump(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let (next, end) = self.bounds();
        if ptr as usize + layout.size() == next {
            self.set_bounds(ptr as usize, end);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (next, end) = self.bounds();
        let at = ptr as usize;
        if at + layout.size() == next && at.checked_add(new_size).is_some_and(|s| s <= end) {
            // The last block: resized where it is.
            self.set_bounds(at + new_size, end);
            return ptr;
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return core::ptr::null_mut();
        };
        let moved = self.bump(new_layout);
        if !moved.is_null() {
            // SAFETY: both blocks are live, disjoint, and at least this long.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
            }
        }
        moved
    }
}

//! `wasi:filesystem` as plugins see it: wasmtime-wasi's implementation, with two walls added
//! in front of it.
//!
//! - **Only regular files and folders open.** A FIFO, device or socket in a grant is refused
//!   at `open-at` (checked with `stat-at` first, which never blocks): reading a FIFO blocks
//!   the thread inside the host call. (A FIFO renamed onto the path between the check and
//!   the open is not caught here; plugins cannot create FIFOs, so that needs a host process
//!   racing on purpose, and the task's thread is then abandoned at its budget like any
//!   blocked file operation: see `Runtime::on_own_thread`.)
//! - **Disk quotas per writable grant.** Every descriptor remembers the grant it came from;
//!   writes (direct or through a stream), `set-size` and creations are charged to that grant's
//!   [`DiskMeter`]. The write that goes over fails with WASI's `quota` error, an ordinary I/O
//!   error to the plugin, and the task ends as `quota_exceeded`.
//!
//! Why a wrapper and not a fork: every other call is passed through unchanged to
//! wasmtime-wasi, whose path resolution (beneath the preopen, no `..` escape) stays the one
//! that holds. It is linked over wasmtime-wasi's own `wasi:filesystem/types` and `preopens`
//! (linker shadowing), so every other WASI interface is untouched.
use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, Dir, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorType, ErrorCode, HostDescriptor, HostDirectoryEntryStream,
};
use wasmtime_wasi::p2::bindings::filesystem::{preopens, types};
use wasmtime_wasi::p2::{DynOutputStream, FsError, FsResult, OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{FsPerms, OpenMode};

use crate::grants::GrantDir;
use crate::limits::DiskMeter;

/// Which grant each open descriptor belongs to, and the meters of the writable ones.
#[derive(Default)]
pub struct FsGuard {
    /// Descriptor (resource rep) → index into `meters`/the grants.
    grant_of: HashMap<u32, usize>,
    /// Guest mount paths, in grant order.
    mounts: Vec<String>,
    /// One meter per grant; `None` for read-only grants.
    meters: Vec<Option<Arc<DiskMeter>>>,
    /// Whether each grant is writable.
    writable: Vec<bool>,
    /// Each grant's folder, held open since the plugin was loaded: the preopens are these
    /// handles, never the configured paths resolved again (see [`crate::grants`]).
    dirs: Vec<GrantDir>,
}

impl FsGuard {
    pub fn new(
        mounts: Vec<String>,
        meters: Vec<Option<Arc<DiskMeter>>>,
        writable: Vec<bool>,
        dirs: Vec<GrantDir>,
    ) -> Self {
        FsGuard { grant_of: HashMap::new(), mounts, meters, writable, dirs }
    }

    fn meter(&self, fd: u32) -> Option<&Arc<DiskMeter>> {
        self.grant_of.get(&fd).and_then(|g| self.meters.get(*g)).and_then(Option::as_ref)
    }
}

/// The filesystem as one task's host calls see it: wasmtime-wasi's, and the guard in front.
pub struct Guarded<'a> {
    fs: WasiFilesystemCtxView<'a>,
    guard: &'a mut FsGuard,
}

impl<'a> Guarded<'a> {
    pub fn new(fs: WasiFilesystemCtxView<'a>, guard: &'a mut FsGuard) -> Self {
        Guarded { fs, guard }
    }
}

struct GuardedFs;

impl HasData for GuardedFs {
    type Data<'a> = Guarded<'a>;
}

/// Links the guarded filesystem over wasmtime-wasi's (call after `add_to_linker_async`);
/// `guarded` finds a task's filesystem and guard in its store (the host's `StoreState`).
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    guarded: fn(&mut T) -> Guarded<'_>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    types::add_to_linker::<T, GuardedFs>(linker, guarded)?;
    preopens::add_to_linker::<T, GuardedFs>(linker, guarded)?;
    linker.allow_shadowing(false);
    Ok(())
}

fn quota_error() -> FsError {
    ErrorCode::Quota.into()
}

fn borrow(fd: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(fd.rep())
}

impl preopens::Host for Guarded<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        let mut out = Vec::with_capacity(self.guard.dirs.len());
        for (g, (dir, mount)) in self.guard.dirs.iter().zip(&self.guard.mounts).enumerate() {
            // A descriptor of its own per task (the guest may close it), on the same folder.
            let file = dir.file.try_clone()?;
            let (perms, mode) = if self.guard.writable.get(g).copied().unwrap_or(false) {
                (FsPerms::ReadWrite, OpenMode::READ | OpenMode::WRITE)
            } else {
                (FsPerms::ReadOnly, OpenMode::READ)
            };
            // File operations run inline (as `allow_blocking_current_thread` set for the task).
            let fd = self.fs.table.push(Descriptor::Dir(Dir::new(file, perms, mode, true)))?;
            self.guard.grant_of.insert(fd.rep(), g);
            out.push((fd, mount.clone()));
        }
        Ok(out)
    }
}

impl types::Host for Guarded<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.fs, err)
    }

    fn filesystem_error_code(&mut self, err: Resource<wasmtime::Error>) -> wasmtime::Result<Option<ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.fs, err)
    }
}

impl Guarded<'_> {
    /// Wraps a new write stream of `fd` so its bytes are charged to `fd`'s grant.
    fn metered(&mut self, fd: u32, stream: Resource<DynOutputStream>) -> FsResult<Resource<DynOutputStream>> {
        let Some(meter) = self.guard.meter(fd).cloned() else { return Ok(stream) };
        let inner = self.fs.table.delete(stream)?;
        let wrapped: DynOutputStream = Box::new(MeteredStream { inner, meter });
        Ok(self.fs.table.push(wrapped)?)
    }

    fn charge_create(&self, fd: u32) -> FsResult<()> {
        match self.guard.meter(fd) {
            Some(m) if !m.create() => Err(quota_error()),
            _ => Ok(()),
        }
    }
}

impl HostDescriptor for Guarded<'_> {
    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let dir = fd.rep();
        match HostDescriptor::stat_at(&mut self.fs, borrow(&fd), path_flags, path.clone()).await {
            Ok(st) => {
                // wasmtime-wasi reports FIFOs and sockets as `unknown`: allow only what is
                // known to be safe. (A symlink is only seen when not followed, and then the
                // open itself fails.)
                if !matches!(
                    st.type_,
                    DescriptorType::RegularFile | DescriptorType::Directory | DescriptorType::SymbolicLink
                ) {
                    // Not a file baton lets a plugin open: reading it could block forever.
                    return Err(ErrorCode::Access.into());
                }
            }
            Err(_) if oflags.contains(types::OpenFlags::CREATE) => self.charge_create(dir)?,
            Err(_) => {}
        }
        let new = HostDescriptor::open_at(&mut self.fs, fd, path_flags, path, oflags, flags).await?;
        if let Some(g) = self.guard.grant_of.get(&dir).copied() {
            self.guard.grant_of.insert(new.rep(), g);
        }
        Ok(new)
    }

    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buf: Vec<u8>,
        offset: types::Filesize,
    ) -> FsResult<types::Filesize> {
        if let Some(m) = self.guard.meter(fd.rep())
            && !m.write(buf.len() as u64)
        {
            return Err(quota_error());
        }
        HostDescriptor::write(&mut self.fs, fd, buf, offset).await
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let rep = fd.rep();
        let stream = HostDescriptor::write_via_stream(&mut self.fs, fd, offset)?;
        self.metered(rep, stream)
    }

    fn append_via_stream(&mut self, fd: Resource<Descriptor>) -> FsResult<Resource<DynOutputStream>> {
        let rep = fd.rep();
        let stream = HostDescriptor::append_via_stream(&mut self.fs, fd)?;
        self.metered(rep, stream)
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: types::Filesize) -> FsResult<()> {
        // Charged in full: a sparse file costs nothing now, but anything that copies it does.
        if let Some(m) = self.guard.meter(fd.rep())
            && !m.write(size)
        {
            return Err(quota_error());
        }
        HostDescriptor::set_size(&mut self.fs, fd, size).await
    }

    async fn create_directory_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.charge_create(fd.rep())?;
        HostDescriptor::create_directory_at(&mut self.fs, fd, path).await
    }

    async fn symlink_at(&mut self, fd: Resource<Descriptor>, src_path: String, dest_path: String) -> FsResult<()> {
        self.charge_create(fd.rep())?;
        HostDescriptor::symlink_at(&mut self.fs, fd, src_path, dest_path).await
    }

    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path_flags: types::PathFlags,
        old_path: String,
        new_descriptor: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.charge_create(new_descriptor.rep())?;
        HostDescriptor::link_at(&mut self.fs, fd, old_path_flags, old_path, new_descriptor, new_path).await
    }

    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        self.guard.grant_of.remove(&fd.rep());
        HostDescriptor::drop(&mut self.fs, fd)
    }

    // Everything below passes straight through.

    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> FsResult<()> {
        HostDescriptor::advise(&mut self.fs, fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync_data(&mut self.fs, fd).await
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorFlags> {
        HostDescriptor::get_flags(&mut self.fs, fd).await
    }

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorType> {
        HostDescriptor::get_type(&mut self.fs, fd).await
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times(&mut self.fs, fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: types::Filesize,
        offset: types::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        HostDescriptor::read(&mut self.fs, fd, len, offset).await
    }

    async fn read_directory(&mut self, fd: Resource<Descriptor>) -> FsResult<Resource<types::DirectoryEntryStream>> {
        HostDescriptor::read_directory(&mut self.fs, fd).await
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync(&mut self.fs, fd).await
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorStat> {
        HostDescriptor::stat(&mut self.fs, fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        HostDescriptor::stat_at(&mut self.fs, fd, path_flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times_at(&mut self.fs, fd, path_flags, path, atim, mtim).await
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        HostDescriptor::readlink_at(&mut self.fs, fd, path).await
    }

    async fn remove_directory_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        HostDescriptor::remove_directory_at(&mut self.fs, fd, path).await
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        HostDescriptor::rename_at(&mut self.fs, fd, old_path, new_fd, new_path).await
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        HostDescriptor::unlink_file_at(&mut self.fs, fd, path).await
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<wasmtime_wasi::p2::DynInputStream>> {
        HostDescriptor::read_via_stream(&mut self.fs, fd, offset)
    }

    async fn is_same_object(&mut self, a: Resource<Descriptor>, b: Resource<Descriptor>) -> wasmtime::Result<bool> {
        HostDescriptor::is_same_object(&mut self.fs, a, b).await
    }

    async fn metadata_hash(&mut self, fd: Resource<Descriptor>) -> FsResult<types::MetadataHashValue> {
        HostDescriptor::metadata_hash(&mut self.fs, fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        HostDescriptor::metadata_hash_at(&mut self.fs, fd, path_flags, path).await
    }
}

impl HostDirectoryEntryStream for Guarded<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<types::DirectoryEntryStream>,
    ) -> FsResult<Option<types::DirectoryEntry>> {
        HostDirectoryEntryStream::read_directory_entry(&mut self.fs, stream).await
    }

    fn drop(&mut self, stream: Resource<types::DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.fs, stream)
    }
}

/// A file's write stream whose bytes are charged to its grant's quota.
struct MeteredStream {
    inner: DynOutputStream,
    meter: Arc<DiskMeter>,
}

impl MeteredStream {
    fn charge(&self, n: usize) -> StreamResult<()> {
        if self.meter.write(n as u64) {
            Ok(())
        } else {
            let quota = std::io::Error::from_raw_os_error(rustix::io::Errno::DQUOT.raw_os_error());
            Err(StreamError::LastOperationFailed(quota.into()))
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for MeteredStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for MeteredStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.charge(bytes.len())?;
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn blocking_write_and_flush(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.charge(bytes.len())?;
        self.inner.blocking_write_and_flush(bytes).await
    }

    fn write_zeroes(&mut self, nelem: usize) -> StreamResult<()> {
        self.charge(nelem)?;
        self.inner.write_zeroes(nelem)
    }

    async fn write_ready(&mut self) -> StreamResult<usize> {
        self.inner.write_ready().await
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

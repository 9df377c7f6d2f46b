import Foundation
internal import CLibGit2
#if canImport(Glibc)
import Glibc
import SlipwayCore
#endif

/// git's own lock on a working tree's index: `.git/index.lock`, created exclusively, filled
/// with the new index and renamed over `index`. Every git command that writes the index
/// (`add`, `commit -a`, `pull`, `checkout`, `stash`) holds it while it works, and `commit`
/// moves its branch with a compare-and-swap. A record commit that holds it from before it
/// moves the branch until the index lists the record can therefore never be undone by a
/// person's next ordinary commit (README, "Working in the daemon's clone").
struct IndexLock {
    let lock: URL
    let index: URL
    private let descriptor: Int32

    /// Takes the lock, or nil while someone else holds it.
    static func take(in gitDirectory: URL) throws -> IndexLock? {
        let index = gitDirectory.appendingPathComponent("index")
        let lock = gitDirectory.appendingPathComponent("index.lock")
        let descriptor = open(lock.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 {
            if errno == EEXIST { return nil }
            throw GitError(code: -1, message: "cannot create \(lock.path): \(String(cString: strerror(errno)))")
        }
        return IndexLock(lock: lock, index: index, descriptor: descriptor)
    }

    /// Puts `content` in place as the index and gives the lock up.
    func commit(_ content: Data) throws {
        let written = writeAll(descriptor, content)
        close(descriptor)
        guard written, rename(lock.path, index.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(lock.path)
            throw GitError(code: -1, message: "cannot write \(index.path): \(reason)")
        }
    }

    /// Gives the lock up and leaves the index as it was.
    func release() {
        close(descriptor)
        unlink(lock.path)
    }
}

/// Writes all of `content` to `descriptor`; whether it could.
func writeAll(_ descriptor: Int32, _ content: Data) -> Bool {
    content.withUnsafeBytes { bytes -> Bool in
        var offset = 0
        while offset < bytes.count {
            let count = write(descriptor, bytes.baseAddress?.advanced(by: offset), bytes.count - offset)
            if count < 0 { if errno == EINTR { continue }; return false }
            offset += count
        }
        return true
    }
}

extension GitRepository {
    /// How long a record commit waits for a person's git to let go of the index (a `commit -a`
    /// whose message is being written holds it until the editor closes).
    public static let indexWait: Duration = .seconds(10)

    /// Takes the index lock when `branch` is checked out here, waiting while someone holds it
    /// or while a rebase of `branch` is in progress (its HEAD is detached, and it moves the
    /// branch when it ends); nil when the branch is not checked out. Throws after `wait`: the
    /// commit is not made, and its caller keeps what it was about to commit.
    func lockWorkingTree(of branch: String, wait: Duration) async throws -> IndexLock? {
        guard !isBare else { return nil }
        let deadline = ContinuousClock.now + wait
        var detachedSince: ContinuousClock.Instant?
        while true {
            let rebasing = isBeingRebased(branch)
            if !rebasing {
                if isCheckedOut(branch) {
                    detachedSince = nil
                    if let lock = try IndexLock.take(in: gitDirectory) {
                        // A checkout that ended while we waited may have left another branch in place.
                        if isCheckedOut(branch) { return lock }
                        lock.release()
                        return nil
                    }
                } else if (try? headBranch()) != nil {
                    return nil  // another branch is checked out: this one is only a ref here
                } else {
                    // A detached HEAD is how a rebase starts, a moment before it says so in
                    // rebase-merge/: it counts as settled once it has stayed detached for five
                    // seconds (one was too short on a loaded machine: the record was committed
                    // beside the rebase, which then took it off the branch).
                    let since = detachedSince ?? ContinuousClock.now
                    detachedSince = since
                    if ContinuousClock.now - since >= .seconds(5) { return nil }
                }
            }
            guard ContinuousClock.now < deadline else {
                throw GitError(code: GIT_ELOCKED.rawValue, message: rebasing
                    ? "a rebase of \(branch) is in progress in \(workingDirectory?.path ?? "the working tree"); nothing was committed"
                    : "\(gitDirectory.appendingPathComponent("index.lock").path) is held (a git command at work in this clone, or one that died; git itself never removes it); nothing was committed")
            }
            try await Task.sleep(for: .milliseconds(20))  // the actor serves other callers meanwhile
        }
    }

    /// Whether `git rebase` is rewriting `branch` in this working tree.
    private func isBeingRebased(_ branch: String) -> Bool {
        ["rebase-merge", "rebase-apply"].contains { folder in
            let file = gitDirectory.appendingPathComponent(folder).appendingPathComponent("head-name")
            guard let data = FileManager.default.contents(atPath: file.path) else { return false }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == branch
        }
    }

    /// Brings the working tree and index in line with a commit that just moved the branch from
    /// `previous`, for the changed paths only: each file is written (or removed) unless the
    /// person has edited it since `previous`, and the index gets the committed blob either way,
    /// so that the index always agrees with the tip on Slipway's paths; every other entry stays
    /// as the person left it. Runs holding `lock` and gives it up.
    func updateWorkingTree(_ changes: [(path: String, blob: ObjectID?)], previous: ObjectID?, holding lock: IndexLock) throws {
        // New files a killed Slipway left in the git directory (see `put`); no other is writing one while we hold the lock.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: gitDirectory.path)) ?? [] where name.hasPrefix(Self.scratchPrefix) {
            unlink(gitDirectory.appendingPathComponent(name).path)
        }
        let content: Data
        do {
            content = try newIndex(changes, previous: previous, lock: lock)
        } catch {
            lock.release()
            throw error
        }
        try lock.commit(content)
    }

    /// The working tree written and the new index's bytes (see `updateWorkingTree`).
    private func newIndex(_ changes: [(path: String, blob: ObjectID?)], previous: ObjectID?, lock: IndexLock) throws -> Data {
        guard let root = workingDirectory else { throw GitError(code: -1, message: "no working tree") }
        // A file kept out still gets its entry, with no stat: git compares the contents.
        var entries: [(path: String, blob: ObjectID?, info: stat?)] = []
        for change in changes where Self.isPlainPath(change.path) {
            let url = root.appendingPathComponent(change.path)
            let before = try previous.flatMap { try readFile(change.path, at: $0) }
            let content = try change.blob.map { try readBlob($0) }
            let edited = { Self.isEdited(url, before: before, content: content) }
            // Nothing through a folder that is a link or a file (it could lead out of the
            // repository), and nothing over the person's edit.
            guard Self.realFolders(from: root, to: url), !edited() else {
                entries.append((change.path, change.blob, nil))
                continue
            }
            if let content {
                entries.append((change.path, change.blob, Self.put(content, at: url, unless: edited, scratch: gitDirectory)))
            } else {
                unlink(url.path)  // the file or link itself, never a folder or what a link points to
                // As git does: folders left empty go too (`rmdir` fails on one that is not).
                var folder = url.deletingLastPathComponent()
                while folder.path.count > root.path.count, rmdir(folder.path) == 0 { folder = folder.deletingLastPathComponent() }
                entries.append((change.path, nil, nil))
            }
        }
        return try Self.index(lock.index, with: entries)
    }

    /// Whether the file at `url` is the person's since `before` (it is neither that nor
    /// `content`). Anything but a regular file is theirs, unread (a link to /dev/zero would be
    /// read for ever), and so is a file of another size, unread.
    static func isEdited(_ url: URL, before: Data?, content: Data?) -> Bool {
        let descriptor = open(url.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return errno != ENOENT }  // a link, or unreadable: theirs; none: no edit
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
              Int(info.st_size) == before?.count || Int(info.st_size) == content?.count else { return true }
        do {
            let current = try handle.read(upToCount: Int(info.st_size) + 1) ?? Data()
            return current != before && current != content
        } catch {
            return true
        }
    }

    /// Whether each folder between `root` and `url` is a real folder, or not there yet.
    static func realFolders(from root: URL, to url: URL) -> Bool {
        var folder = url.deletingLastPathComponent()
        while folder.path.count > root.path.count {
            var info = stat()
            if lstat(folder.path, &info) == 0, info.st_mode & S_IFMT != S_IFDIR { return false }
            folder = folder.deletingLastPathComponent()
        }
        return true
    }

    /// Puts `content` at `url` through a new file renamed over it, unless `edited` says the
    /// person saved theirs while the blobs were read. The new file is made in `scratch` (the git
    /// directory: a crash leaves nothing in the working tree), or beside `url` when that is
    /// another filesystem. Returns the stat of the file written for the index (of that file, not
    /// of the path: an edit saved right after is seen as one), nil when nothing was put.
    static func put(_ content: Data, at url: URL, unless edited: () -> Bool, scratch: URL) -> stat? {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let mode = Self.mode(for: url)
        for folder in [scratch, url.deletingLastPathComponent()] {
            let path = "\(folder.path)/\(scratchPrefix)\(UInt64.random(in: 0...UInt64.max))"
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)  // a new file, never one or a link already there
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            guard fchmod(descriptor, mode) == 0, writeAll(descriptor, content), !edited() else {
                unlink(path)
                return nil
            }
            if rename(path, url.path) == 0 {
                var info = stat()
                return fstat(descriptor, &info) == 0 ? info : nil
            }
            let failure = errno
            unlink(path)
            if failure != EXDEV { return nil }
        }
        return nil
    }

    /// The name of every new file `put` makes, before it is renamed into place.
    static let scratchPrefix = ".slipway-write-"

    /// The mode of the file at `url` when it is a regular file (a person's chmod stays), else
    /// what git gives a new file: 0666 less the umask.
    static func mode(for url: URL) -> mode_t {
        var info = stat()
        if lstat(url.path, &info) == 0, info.st_mode & S_IFMT == S_IFREG { return info.st_mode & 0o7777 }
        return 0o666 & ~processUmask
    }

    /// This process's umask, from /proc (`umask(2)` would change it while other threads create files).
    static let processUmask: mode_t = {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Umask:") }
        return line.flatMap { mode_t($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) } ?? 0o022
    }()

    /// The bytes of `index` with `entries` put in or taken out. libgit2 writes an index only
    /// through its own lock, which we hold: it works on a private copy (`git_index_open`,
    /// `git_index_add`, `git_index_remove`, `git_index_write`).
    private static func index(_ index: URL, with entries: [(path: String, blob: ObjectID?, info: stat?)]) throws -> Data {
        let copy = index.deletingLastPathComponent().appendingPathComponent("slipway-index-\(getpid())")
        defer { unlink(copy.path) }
        unlink(copy.path)
        if let current = FileManager.default.contents(atPath: index.path) { try current.write(to: copy) }
        var handle: OpaquePointer?
        try check(git_index_open(&handle, copy.path), "reading the index")
        defer { git_index_free(handle) }
        for entry in entries {
            guard let blob = entry.blob else {
                let result = git_index_remove(handle, entry.path, 0)
                if result != GIT_ENOTFOUND.rawValue { try check(result, entry.path) }
                continue
            }
            var item = git_index_entry()
            item.mode = GIT_FILEMODE_BLOB.rawValue
            item.id = blob.raw
            if let info = entry.info {
                item.ctime = git_index_time(seconds: Int32(truncatingIfNeeded: info.st_ctim.tv_sec), nanoseconds: UInt32(truncatingIfNeeded: info.st_ctim.tv_nsec))
                item.mtime = git_index_time(seconds: Int32(truncatingIfNeeded: info.st_mtim.tv_sec), nanoseconds: UInt32(truncatingIfNeeded: info.st_mtim.tv_nsec))
                item.dev = UInt32(truncatingIfNeeded: info.st_dev)
                item.ino = UInt32(truncatingIfNeeded: info.st_ino)
                item.uid = info.st_uid
                item.gid = info.st_gid
                item.file_size = UInt32(truncatingIfNeeded: info.st_size)
            }
            try entry.path.withCString { path in
                item.path = path
                try check(git_index_add(handle, &item), entry.path)
            }
        }
        try check(git_index_write(handle), "writing the index")
        guard let content = FileManager.default.contents(atPath: copy.path) else {
            throw GitError(code: -1, message: "cannot read back the index written to \(copy.path)")
        }
        return content
    }
}

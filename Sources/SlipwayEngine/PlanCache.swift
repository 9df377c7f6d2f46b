import Foundation
import SlipwayCore
import SlipwayManifest
import SlipwayRecords

/// What `slipway plan` (and `apply`) learnt from the repository, kept on disk in the state
/// directory so that the next command reads only what changed (README, "Performance"): the
/// outline of the desired state for one `Environments/` tree, and each environment's verdict
/// for its manifest blob and deployed status. What runs on this machine (instances, secrets,
/// programs, addresses) is never kept: it is looked at on every plan.
///
/// The file is trusted only by the Slipway build that wrote it, for the same repository, the
/// same `Trust/` tree and the same judged paths; anything else, or a file that does not read
/// whole, is ignored and written again. The daemon does not use it: it keeps the desired state
/// and every file it parsed in memory (`OpsRepository`'s cache).
public struct PlanCache: Sendable {
    let file: URL
    /// What the file must have been written under: this build, this repository, `Trust/`'s state.
    let key: String

    /// Largest file read back (a few hundred bytes per environment).
    static let maximumSize = 256 << 20
    static let format = "slipway plan cache 1"

    /// Where a state directory keeps it.
    public init(state: StateDirectory, repository: OpsRepository) {
        self.init(file: state.root.appendingPathComponent("cache/plan"), key: repository.git.gitDirectory.path)
    }

    init(file: URL, key: String) {
        self.file = file
        self.key = key
    }

    /// Which deployed status an environment's verdict was made with.
    enum StatusKey: Hashable, Sendable {
        case none
        /// `Status/<env>.md` at the tip.
        case blob(ObjectID)
        /// This machine's saved status file (always replaced whole, by rename).
        case saved(FileIdentity)
    }

    /// A file as `stat` knows it: device, inode, size, and the times of its last change of
    /// content and of inode (the latter no program can set back), in nanoseconds.
    struct FileIdentity: Hashable, Sendable {
        var device: Int64, inode: Int64, size: Int64, modified: Int64, changed: Int64

        init(device: Int64, inode: Int64, size: Int64, modified: Int64, changed: Int64) {
            (self.device, self.inode, self.size, self.modified, self.changed) = (device, inode, size, modified, changed)
        }

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            self.init(device: Int64(bitPattern: UInt64(info.st_dev)), inode: Int64(bitPattern: UInt64(info.st_ino)), size: Int64(info.st_size),
                      modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
                      changed: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec))
        }
    }

    /// An environment's plan as its manifest and status make it, before what runs here is
    /// looked at: `live` when it is up to date unless instances are missing.
    struct Verdict: Sendable {
        var plan: EnvironmentPlan
        var live: Bool
    }

    struct Entry: Sendable {
        var blob: ObjectID
        var status: StatusKey
        var verdict: Verdict
    }

    struct Contents: Sendable {
        var outline: Outline?
        var entries: [EnvironmentName: Entry]
    }

    /// What the file holds, when it was written by this build for this repository, under the same
    /// `scope` (`Trust/`'s tree, whether it is checked, the paths that do not count); empty otherwise.
    func load(scope: String) -> Contents {
        let empty = Contents(outline: nil, entries: [:])
        guard let build = Self.build, let bytes = Self.read(file.path), bytes.count >= 8 else { return empty }
        let body = bytes.dropLast(8)
        guard bytes.suffix(8).reversed().reduce(0 as UInt64, { $0 << 8 | UInt64($1) }) == Self.checksum(body) else { return empty }
        var reader = CacheReader(Array(body))
        do {
            guard try reader.string() == build, try reader.string() == key, try reader.string() == scope else { return empty }
            let outline: Outline? = try reader.flag() ? try reader.outline() : nil
            var entries: [EnvironmentName: Entry] = [:]
            let count = try reader.count()
            entries.reserveCapacity(min(count, 1 << 16))
            for _ in 0..<count {
                let name = try reader.name()
                entries[name] = Entry(blob: try reader.objectID(), status: try reader.statusKey(), verdict: try reader.verdict(of: name))
            }
            return reader.isAtEnd ? Contents(outline: outline, entries: entries) : empty
        } catch {
            return empty
        }
    }

    /// Replaces the file whole (a reader sees the old one or the new one); a failure to write
    /// costs the next plan its speed, nothing else. A file too large to be read back is not written.
    func save(_ contents: Contents, scope: String) {
        guard let build = Self.build else { return }
        var writer = CacheWriter()
        writer.string(build)
        writer.string(key)
        writer.string(scope)
        writer.flag(contents.outline != nil)
        if let outline = contents.outline { writer.outline(outline) }
        writer.count(contents.entries.count)
        for (name, entry) in contents.entries.sorted(by: { $0.key < $1.key }) {
            writer.string(name.rawValue)
            writer.string(entry.blob.hex)
            writer.statusKey(entry.status)
            writer.verdict(entry.verdict)
        }
        let checksum = Self.checksum(writer.bytes[...])
        writer.bytes += (0..<8).map { UInt8(truncatingIfNeeded: checksum >> (8 * $0)) }
        guard writer.bytes.count <= Self.maximumSize else { return }
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? Data(writer.bytes).write(to: file, options: .atomic)
    }

    /// The file's bytes, read straight into an array (no copy: it is read on every command), nil
    /// when missing or larger than `maximumSize`.
    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)  // whatever is there, never wait on it
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size <= maximumSize else { return nil }
        let size = Int(info.st_size)
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = 0
            guard let base = buffer.baseAddress else { return }
            while count < size {
                let got = Foundation.read(fd, base + count, size - count)
                guard got > 0 else { break }
                count += got
            }
        }
        return bytes.count == size ? bytes : nil
    }

    /// This executable, as `stat` knows it: a rebuilt or replaced Slipway never reads what another build wrote.
    static let build: String? = FileIdentity(path: "/proc/self/exe").map { "\(format) \($0.device) \($0.inode) \($0.size) \($0.modified) \($0.changed)" }

    /// The key of `name`'s saved status on this machine (`known`: the environments the state
    /// directory has a folder for), or of its status file at the tip.
    static func statusKey(_ name: EnvironmentName, state: StateDirectory, known: Set<EnvironmentName>, blob: ObjectID?) -> StatusKey {
        if known.contains(name), let saved = FileIdentity(path: state.statusFile(name).path) { return .saved(saved) }
        return blob.map { .blob($0) } ?? .none
    }

    /// FNV-1a over `bytes`: a file cut or changed where its structure still reads is not trusted.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}

/// Bytes of the cache file: lengths as LEB128, strings as UTF-8.
struct CacheWriter {
    var bytes: [UInt8] = []

    mutating func count(_ value: Int) { raw(UInt64(max(0, value))) }
    mutating func signed(_ value: Int64) { raw(UInt64(bitPattern: value)) }

    private mutating func raw(_ value: UInt64) {
        var value = value
        repeat {
            let low = UInt8(value & 0x7f)
            value >>= 7
            bytes.append(value == 0 ? low : low | 0x80)
        } while value != 0
    }

    mutating func flag(_ value: Bool) { bytes.append(value ? 1 : 0) }

    mutating func string(_ value: String) {
        let utf8 = value.utf8
        count(utf8.count)
        bytes.append(contentsOf: utf8)
    }

    mutating func optional(_ value: String?) {
        flag(value != nil)
        if let value { string(value) }
    }

    mutating func statusKey(_ key: PlanCache.StatusKey) {
        switch key {
        case .none: bytes.append(0)
        case .blob(let blob): bytes.append(1); string(blob.hex)
        case .saved(let file):
            bytes.append(2)
            for value in [file.device, file.inode, file.size, file.modified, file.changed] { signed(value) }
        }
    }

    mutating func verdict(_ verdict: PlanCache.Verdict) {
        let plan = verdict.plan
        string(plan.action.rawValue)
        string(plan.service)
        string(plan.desiredVersion)
        optional(plan.deployedVersion)
        optional(plan.reason)
        count(plan.changes.count)
        for change in plan.changes { string(change.field); string(change.from); string(change.to) }
        flag(verdict.live)
    }

    mutating func outline(_ outline: PlanCache.Outline) {
        optional(outline.tree?.hex)
        let environments = outline.ordered.compactMap { name in outline.environment(name).flatMap { facts in outline.needs(name).map { (name, facts, $0) } } }
        count(environments.count)
        for (name, environment, needs) in environments {
            string(name.rawValue)
            string(environment.blob.hex)
            string(environment.service)
            string(environment.version)
            optional(environment.upstream?.rawValue)
            count(environment.replicas)
            count(needs.secrets.count)
            for secret in needs.secrets { string(secret.name); string(secret.variable) }
            optional(needs.program)
            optional(needs.workingDirectory)
            count(needs.addresses.count)
            for address in needs.addresses { string(address.key); string(address.address.host); count(address.address.port) }
        }
        count(outline.others.count)
        for (path, blob) in outline.others.sorted(by: { $0.key < $1.key }) { string(path); string(blob.hex) }
        count(outline.invalid.count)
        for line in outline.invalid { string(line) }
        count(outline.broken.count)
        for name in outline.broken.sorted() { string(name.rawValue) }
    }
}

/// Reads what `CacheWriter` wrote; any inconsistency throws (the file is then ignored).
struct CacheReader {
    struct Malformed: Error {}

    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// A length or a number of elements: each takes a byte at least, so never more than remain.
    mutating func count() throws -> Int {
        let value = try signed()
        guard value >= 0, value <= bytes.count - offset else { throw Malformed() }
        return Int(value)
    }

    /// A port or a replica count.
    mutating func number() throws -> Int {
        let value = try signed()
        guard value >= 0, value <= Int32.max else { throw Malformed() }
        return Int(value)
    }

    mutating func signed() throws -> Int64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard offset < bytes.count, shift < 64 else { throw Malformed() }
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return Int64(bitPattern: value) }
            shift += 7
        }
    }

    mutating func flag() throws -> Bool {
        guard offset < bytes.count, bytes[offset] <= 1 else { throw Malformed() }
        offset += 1
        return bytes[offset - 1] == 1
    }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func string() throws -> String {
        let length = try count()  // never more than remain
        defer { offset += length }
        return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
    }

    mutating func optional() throws -> String? { try flag() ? try string() : nil }

    mutating func name() throws -> EnvironmentName {
        guard let name = EnvironmentName(try string()) else { throw Malformed() }
        return name
    }

    mutating func objectID() throws -> ObjectID {
        guard let id = ObjectID(hex: try string()) else { throw Malformed() }
        return id
    }

    mutating func statusKey() throws -> PlanCache.StatusKey {
        guard offset < bytes.count else { throw Malformed() }
        offset += 1
        switch bytes[offset - 1] {
        case 0: return .none
        case 1: return .blob(try objectID())
        case 2: return .saved(PlanCache.FileIdentity(device: try signed(), inode: try signed(), size: try signed(), modified: try signed(), changed: try signed()))
        default: throw Malformed()
        }
    }

    mutating func verdict(of name: EnvironmentName) throws -> PlanCache.Verdict {
        guard let action = EnvironmentPlan.Action(rawValue: try string()) else { throw Malformed() }
        let service = try string(), desired = try string(), deployed = try optional(), reason = try optional()
        var changes: [FieldChange] = []
        for _ in 0..<(try count()) { changes.append(FieldChange(field: try string(), from: try string(), to: try string())) }
        return PlanCache.Verdict(plan: EnvironmentPlan(environment: name, action: action, service: service, desiredVersion: desired,
                                                       deployedVersion: deployed, changes: changes, reason: reason),
                                 live: try flag())
    }

    mutating func outline() throws -> PlanCache.Outline {
        let tree = try optional().map { hex in
            guard let id = ObjectID(hex: hex) else { throw Malformed() }
            return id
        }
        var environments: [EnvironmentName: (facts: PlanCache.Outline.Environment, needs: MachineNeeds)] = [:], ordered: [EnvironmentName] = []
        let count = try self.count()
        environments.reserveCapacity(min(count, 1 << 16))
        ordered.reserveCapacity(min(count, 1 << 16))
        for _ in 0..<count {
            let name = try self.name(), blob = try objectID(), service = try string(), version = try string()
            let upstream = try optional().map { text in
                guard let upstream = EnvironmentName(text) else { throw Malformed() }
                return upstream
            }
            let replicas = try number()
            var secrets: [(name: String, variable: String)] = []
            for _ in 0..<(try self.count()) { secrets.append((try string(), try string())) }
            let program = try optional(), workingDirectory = try optional()
            var addresses: [(key: String, address: ListenAddress)] = []
            for _ in 0..<(try self.count()) { addresses.append((try string(), ListenAddress(host: try string(), port: try number()))) }
            ordered.append(name)
            environments[name] = (PlanCache.Outline.Environment(blob: blob, service: service, version: version, upstream: upstream, replicas: replicas),
                                  MachineNeeds(secrets: secrets, program: program, workingDirectory: workingDirectory, addresses: addresses))
        }
        var others: [String: ObjectID] = [:]
        for _ in 0..<(try self.count()) { others[try string()] = try objectID() }
        var invalid: [String] = []
        for _ in 0..<(try self.count()) { invalid.append(try string()) }
        var broken: Set<EnvironmentName> = []
        for _ in 0..<(try self.count()) { broken.insert(try name()) }
        return PlanCache.Outline(tree: tree, environments: environments, ordered: ordered, others: others, invalid: invalid, broken: broken)
    }
}

import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayManifest
import SlipwayCore
import SlipwayHost

/// `slipway plan`'s file cache (README, "Performance"): each plan is made by a fresh repository
/// value, as a new command would, and compared with a plan made without the file; what it
/// parses is counted. A real git repository and state directory; nothing runs.
@Suite("plan cache on disk")
struct PlanCacheTests {
    let folder: URL
    let state: StateDirectory
    /// Removes each test's own repository when the test ends, however it ended.
    private let removal: Removal

    final class Removal: Sendable {
        let folder: URL
        init(_ folder: URL) { self.folder = folder }
        deinit { try? FileManager.default.removeItem(at: folder) }
    }

    init() throws {
        folder = try ParseCacheTests.newRepository()
        state = StateDirectory(root: folder.appendingPathComponent(".git/slipway"))
        removal = Removal(folder)
    }

    func write(_ name: String, version: String, port: Int, upstream: String? = nil) throws {
        try ParseCacheTests.manifest(name, version: version, port: port, upstream: upstream)
            .write(to: folder.appendingPathComponent("Environments/\(name).yaml"), atomically: true, encoding: .utf8)
    }

    /// A status file as Slipway writes it, for `name` running `version` of the manifest at `blob`.
    func status(_ name: String, version: String, manifest blob: String) -> String {
        "---\nenvironment: \(name)\nservice: \(name)\nversion: \"\(version)\"\nmanifest: \(blob)\ninstances: {}\nlastResult: succeeded\nlastDeployment: 20261126T000000.000Z-abcdef0\n---\n"
    }

    func blob(_ path: String) throws -> String {
        let process = Process(), pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-C", folder.path, "rev-parse", "HEAD:\(path)"]
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func commit(_ message: String) throws {
        try ParseCacheTests.git(folder, ["add", "-A"])
        try ParseCacheTests.git(folder, ["commit", "-q", "-m", message])
    }

    /// A plan with the file (written or read), and one without, each by a new repository value;
    /// with what the first parsed.
    func plans() async throws -> (cached: String, fresh: String, manifests: Int, statuses: Int) {
        let repository = try await OpsRepository.open(path: folder.path, branch: "main")
        let cached = try await Planner(repository: repository, state: state, cache: PlanCache(state: state, repository: repository)).plan()
        let parsed = repository.cache.parsed.withLock { $0 }
        let fresh = try await Planner(repository: try await OpsRepository.open(path: folder.path, branch: "main"), state: state).plan()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return (String(decoding: try encoder.encode(cached), as: UTF8.self), String(decoding: try encoder.encode(fresh), as: UTF8.self),
                parsed.manifests, parsed.statuses)
    }

    @Test("a plan after another reads only what changed and says what a plan without the file says, whatever the commit did")
    func readsWhatChanged() async throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        for index in 0..<40 { try write("env-\(index)", version: "1", port: 9100 + index) }
        try write("staging", version: "1", port: 9090)
        try write("production", version: "1", port: 9091, upstream: "staging")
        try commit("42")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("Status"), withIntermediateDirectories: true)
        for index in 0..<20 {  // half deployed (repair: nothing runs here), half new
            try status("env-\(index)", version: "1", manifest: try blob("Environments/env-\(index).yaml"))
                .write(to: folder.appendingPathComponent("Status/env-\(index).md"), atomically: true, encoding: .utf8)
        }
        try commit("deployed")
        let first = try await plans()
        #expect(first.cached == first.fresh)
        #expect(first.manifests >= 42 && first.statuses == 20)

        let again = try await plans()
        #expect(again.cached == again.fresh)
        #expect(again.manifests == 0 && again.statuses == 0, "nothing read again: \(again.manifests) manifests, \(again.statuses) statuses")

        // (change, most manifests and status files the next plan may parse; nil: every manifest, checked whole)
        let steps: [(String, () throws -> Void, Int?, Int)] = [
            ("a new version of a deployed environment", { try write("env-3", version: "2", port: 9103) }, 2, 1),
            ("a new address, a new environment", { try write("env-4", version: "2", port: 9200); try write("env-41", version: "1", port: 9141) }, 4, 1),
            ("a deletion", { try FileManager.default.removeItem(at: folder.appendingPathComponent("Environments/env-5.yaml")) }, 0, 0),
            ("a status file", {
                try status("env-30", version: "1", manifest: try blob("Environments/env-30.yaml"))
                    .write(to: folder.appendingPathComponent("Status/env-30.md"), atomically: true, encoding: .utf8)
            }, 1, 1),
            ("joining a lane", { try write("env-6", version: "2", port: 9106, upstream: "staging") }, nil, 2),
            ("another's address", { try write("env-7", version: "2", port: 9100) }, nil, 2),
            ("and back", { try write("env-7", version: "3", port: 9107) }, nil, 2),
            ("a release through the lane", { try write("staging", version: "2", port: 9090); try write("production", version: "2", port: 9091, upstream: "staging") }, nil, 0),
        ]
        for (what, change, manifests, statuses) in steps {
            try change()
            try commit(what)
            let plans = try await plans()
            #expect(plans.cached == plans.fresh, "\(what)")
            if let manifests { #expect(plans.manifests <= manifests, "\(what): \(plans.manifests) manifests parsed") }
            #expect(plans.statuses <= statuses, "\(what): \(plans.statuses) status files parsed")
        }

        // This machine's own saved status counts over the file's: its verdict is made again.
        let repository = try await OpsRepository.open(path: folder.path, branch: "main")
        var saved = try await repository.status(of: "env-8", blob: try #require(try await repository.statusBlobs(at: try await repository.tip())["env-8"]))
        saved.version = "0.9"
        try state.save(saved)
        let withSaved = try await plans()
        #expect(withSaved.cached == withSaved.fresh && withSaved.cached.contains("\"0.9\""))
        #expect(withSaved.manifests <= 1 && withSaved.statuses == 0)

        // A saved status that does not read counts for nothing: the status file does, and a new one of it is seen.
        try FileManager.default.createDirectory(at: state.environment("env-9"), withIntermediateDirectories: true)
        try Data("{ not json".utf8).write(to: state.statusFile("env-9"))
        _ = try await plans()
        try status("env-9", version: "0.8", manifest: try blob("Environments/env-9.yaml"))
            .write(to: folder.appendingPathComponent("Status/env-9.md"), atomically: true, encoding: .utf8)
        try commit("env-9's status")
        let unreadable = try await plans()
        #expect(unreadable.cached == unreadable.fresh && unreadable.cached.contains("\"0.8\""))
    }

    @Test("a cache file that is cut short, has a byte changed, claims billions of entries, or is not a file is ignored, and written again whole")
    func damagedFile() async throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        for index in 0..<5 { try write("env-\(index)", version: "1", port: 9300 + index) }
        try commit("five")
        let file = state.root.appendingPathComponent("cache/plan")
        let good = try await plans()
        let written = try Data(contentsOf: file)
        var flipped = written
        flipped[written.count / 2] ^= 1  // a string's byte: the structure still reads
        var huge = CacheWriter()
        for text in [try #require(PlanCache.build), folder.appendingPathComponent(".git").path, "- true"] { huge.string(text) }
        huge.flag(false)
        huge.count(Int(Int32.max))
        let checksum = PlanCache.checksum(huge.bytes[...])
        huge.bytes += (0..<8).map { UInt8(truncatingIfNeeded: checksum >> (8 * $0)) }
        for damaged in [written.prefix(written.count / 2), flipped, Data(written.reversed()), Data(huge.bytes), Data()] {
            try damaged.write(to: file)
            let plans = try await plans()
            #expect(plans.cached == good.fresh && plans.fresh == good.fresh)
            #expect(plans.manifests == 5, "read whole again")
            #expect(try Data(contentsOf: file) == written, "written again")
        }
        // A named pipe where the file was: not waited on.
        try FileManager.default.removeItem(at: file)
        try #require(mkfifo(file.path, 0o600) == 0)
        let plans = try await plans()
        #expect(plans.cached == good.fresh && plans.manifests == 5)
    }

    @Test("the file counts only for the build, repository and Trust/ state it was written under")
    func scope() async throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try write("web", version: "1", port: 9400)
        try commit("one")
        let repository = try await OpsRepository.open(path: folder.path, branch: "main")
        let cache = PlanCache(state: state, repository: repository)
        _ = try await plans()
        let contents = cache.load(scope: "- true")
        #expect(contents.outline?.ordered == ["web"] && contents.entries["web"] != nil, "written under the open scope")
        #expect(cache.load(scope: "- false").entries.isEmpty, "Trust/ checked")
        #expect(cache.load(scope: "\(String(repeating: "a", count: 40)) true").entries.isEmpty, "another Trust/ tree")
        #expect(cache.load(scope: "- true 24:Environments/web.yaml").entries.isEmpty, "a path judged untrusted")
        #expect(PlanCache(file: cache.file, key: "/elsewhere/.git").load(scope: "- true").entries.isEmpty, "another repository")
    }

    /// A listening socket of this process: IPv4 on 127.0.0.1, or IPv6 on every address (which
    /// takes the port for IPv4's every address too); its port. The caller closes it.
    static func listener(ipv6: Bool) throws -> (fd: Int32, port: Int) {
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        var bound: Int32
        if ipv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        try #require(bound == 0 && listen(fd, 4) == 0)
        var address = sockaddr_in6(), length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (fd, Int(UInt16(bigEndian: address.sin6_port)))  // the port sits at the same place in both
    }

    @Test("among 300 environments, the ports something listens on are asked of the kernel once: both taken ones hold their environment, no other")
    func manyEnvironmentsOnePortRead() async throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let four = try Self.listener(ipv6: false), six = try Self.listener(ipv6: true)
        defer { close(four.fd); close(six.fd) }
        #expect(PortHolder.listeningPorts()?.isSuperset(of: [four.port, six.port]) == true)
        close(try Self.listener(ipv6: false).fd)

        let free = try (0..<300).map { _ in try Self.listener(ipv6: false) }.map { close($0.fd); return $0.port }
        let ports = Array(Set(free).subtracting([four.port, six.port]).prefix(298)) + [four.port, six.port]
        try #require(ports.count == 300)
        for (index, port) in ports.enumerated() {
            let host = port == six.port ? "*" : "127.0.0.1"
            try "service: env-\(index)\nversion: \"1\"\nrun: { command: [\"/bin/sh\", \"-c\", \"sleep 1\"] }\ntraffic: { listen: \"\(host):\(port)\" }\n"
                .write(to: folder.appendingPathComponent("Environments/env-\(index).yaml"), atomically: true, encoding: .utf8)
        }
        try commit("300")
        let repository = try await OpsRepository.open(path: folder.path, branch: "main")
        let machine = MachineCheck(environment: [:], resolver: ExecutableResolver(searchPath: [URL(fileURLWithPath: "/usr/bin")]), state: state, root: folder)
        let plan = try await Planner(repository: repository, state: state, machine: machine, cache: PlanCache(state: state, repository: repository)).plan()
        let held = plan.environments.filter { $0.action == .held }
        #expect(held.map(\.environment) .sorted() == ["env-298", "env-299"], "\(held.map(\.reason))")
        #expect(held.allSatisfy { $0.reason?.contains("is in use by pid \(getpid())") == true }, "\(held.map(\.reason))")
        #expect(plan.environments.count == 300 && plan.environments.filter { $0.action == .create }.count == 298)
    }

    @Test("a plan shows rollback rules as the manifest writes them, and a change no rounding of that shows is still a change")
    func changesInTheirUnits() throws {
        let old = [("rollback.errorRateIncrease", "5.0"), ("rollback.latencyIncrease", "0.3"), ("rollback.memoryLimit", "536870912"), ("run.replicas", "2")]
        let new = [("rollback.errorRateIncrease", "2.5"), ("rollback.latencyIncrease", "0.30000000000000004"), ("rollback.memoryLimit", "1610612736"),
                   ("rollback.cpuIncrease", "1.0"), ("run.replicas", "2")]
        let changes = Planner.changes(from: old.map { (path: $0.0, value: $0.1) }, to: new.map { (path: $0.0, value: $0.1) })
        let shown = Dictionary(uniqueKeysWithValues: changes.map { ($0.field, "\($0.from) → \($0.to)") })
        #expect(shown["rollback.errorRateIncrease"] == "5% → 2.5%")
        #expect(shown["rollback.memoryLimit"] == "512 MiB → 1536 MiB")
        #expect(shown["rollback.cpuIncrease"] == "— → 100%")
        #expect(shown["rollback.latencyIncrease"] == "30% → 30%", "values that differ are a change, though they show alike")
        #expect(shown["run.replicas"] == nil && changes.count == 4)
        #expect(Manifest.shown("rollback.memoryLimit", "1000000") == "1000000 B" && Manifest.shown("rollback.memoryIncrease", "0.125") == "12.5%")
    }
}

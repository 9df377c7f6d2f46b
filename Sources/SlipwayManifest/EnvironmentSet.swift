public import Foundation
public import SlipwayCore

/// A manifest file as read from git: its path (`Environments/x.yaml`) and content.
public struct ManifestFile: Sendable {
    public let path: String
    public let data: Data
    public init(path: String, data: Data) {
        self.path = path
        self.data = data
    }
}

/// The manifests of every environment, validated together (`upstream` must name another
/// environment, without cycles).
public struct EnvironmentSet: Sendable {
    public let manifests: [EnvironmentName: Manifest]
    /// Problems, each naming its file; an environment with any is absent from `manifests`.
    public let diagnostics: [Diagnostic]
    /// Environments in an order where each comes after its upstream.
    public let ordered: [EnvironmentName]
    /// Each environment's upstream, and the environments that name each one as theirs.
    public let upstreams: [EnvironmentName: EnvironmentName]
    public let downstream: [EnvironmentName: [EnvironmentName]]
    /// The addresses the manifests bind, by port (see `updating`).
    private let ports: [Int: [Address]]

    /// Environment names for file names in `Environments/`: `<name>.yaml`, other files ignored.
    public static func environmentName(forFile name: String) -> String? {
        name.hasSuffix(".yaml") ? String(name.dropLast(5)) : nil
    }

    /// Whether a file in `Environments/` is read: a manifest, or a `.yml` file (reported, so
    /// that nobody waits for a release that was never read).
    public static func isRead(_ name: String) -> Bool {
        environmentName(forFile: name) != nil || name.hasSuffix(".yml")
    }

    public init(files: [ManifestFile]) {
        self.init(parsed: files.map(Self.parse), untrusted: [])
    }

    /// Parses the files in parallel (YAML parsing is most of the cost with many environments).
    /// - Parameter untrusted: manifest paths whose content does not count (under `Trust/`): one
    ///   of them never takes an address from a manifest that counts.
    public static func parsing(_ files: [ManifestFile], untrusted: Set<String> = []) async -> EnvironmentSet {
        EnvironmentSet(parsed: await parseAll(files), untrusted: untrusted)
    }

    /// Each file parsed on its own, in parallel, in the order given.
    public static func parseAll(_ files: [ManifestFile]) async -> [ParsedManifest] {
        await withTaskGroup(of: (Int, ParsedManifest).self) { group in
            for (index, file) in files.enumerated() { group.addTask { (index, parse(file)) } }
            var results = [ParsedManifest?](repeating: nil, count: files.count)
            for await (index, result) in group { results[index] = result }
            return results.compactMap { $0 }
        }
    }

    /// One file on its own: what the checks across files need of it is kept, not its text, so a
    /// result can be reused while the file does not change (`OpsRepository`'s cache by blob id).
    public static func parse(_ file: ManifestFile) -> ParsedManifest {
        let base = String(file.path.split(separator: "/").last ?? "")
        if base.hasSuffix(".yml") {
            return ParsedManifest(path: file.path, diagnostics: [Diagnostic(path: file.path, line: 1, column: 1,
                message: "not read: manifests are .yaml files; rename it to \(base.dropLast(4)).yaml")])
        }
        guard let stem = environmentName(forFile: base) else { return ParsedManifest(path: file.path) }
        guard let name = EnvironmentName(stem) else {
            return ParsedManifest(path: file.path, diagnostics: [Diagnostic(path: file.path, line: 1, column: 1,
                message: "\"\(stem.clipped)\" is not a valid environment name (\(EnvironmentName.rule))")])
        }
        do {
            let manifest = try ManifestParser.parse(file.data, path: file.path)
            return ParsedManifest(path: file.path, name: name, manifest: manifest, anchors: ParsedManifest.anchors(in: file.data))
        } catch {
            return ParsedManifest(path: file.path, name: name, diagnostics: error.diagnostics)
        }
    }

    /// Validates parsed manifests together. Each manifest is copied once, into `manifests`:
    /// the checks across files read the small tables made beside it (with thousands of
    /// environments, moving manifests around costs more than the checks).
    public init(parsed: [ParsedManifest], untrusted: Set<String>) {
        var manifests: [EnvironmentName: Manifest] = [:], anchors: [EnvironmentName: ParsedManifest.Anchors] = [:]
        var upstreams: [EnvironmentName: EnvironmentName] = [:], addresses: [Address] = []
        manifests.reserveCapacity(parsed.count)
        anchors.reserveCapacity(parsed.count)
        var diagnostics: [Diagnostic] = []
        for result in parsed {
            diagnostics += result.diagnostics
            if let name = result.name, let manifest = result.manifest {
                manifests[name] = manifest
                anchors[name] = result.anchors
                upstreams[name] = manifest.upstream
                addresses += manifest.addresses.map { Address(name: name, key: $0.key, address: $0.address) }
            }
        }
        let broken = Set(diagnostics.map(\.path))
        // Checked against every parsed manifest before any is dropped, so both ends of a cycle are reported.
        let linked = upstreams, all = manifests  // a copy only once one is dropped
        for (name, upstream) in linked.sorted(by: { $0.key < $1.key }) {
            let problem: String? = if upstream == name {
                "upstream names the environment itself"
            } else if all.index(forKey: upstream) == nil && !broken.contains(upstream.manifestPath) {
                "upstream \"\(upstream)\" has no manifest \(upstream.manifestPath)"
            } else if Self.cycle(from: name, in: linked) {
                "upstream chain from \(name) loops back to it"
            } else {
                nil
            }
            if let problem {
                let at = anchors[name]?.upstream ?? .start
                diagnostics.append(Diagnostic(path: name.manifestPath, line: at.line, column: at.column, message: problem))
                manifests[name] = nil
            }
        }
        let bound = addresses.filter { manifests.index(forKey: $0.name) != nil }
        diagnostics += Self.sharedAddresses(bound, anchors: anchors, untrusted: untrusted)
        if !diagnostics.isEmpty {
            let byPath = Dictionary(manifests.keys.map { ($0.manifestPath, $0) }, uniquingKeysWith: { first, _ in first })
            for path in Set(diagnostics.map(\.path)) {
                if let name = byPath[path] { manifests[name] = nil }
            }
        }
        upstreams = upstreams.filter { manifests.index(forKey: $0.key) != nil }
        self.manifests = manifests
        self.diagnostics = diagnostics.sorted { ($0.path, $0.line, $0.column) < ($1.path, $1.line, $1.column) }
        self.upstreams = upstreams
        self.ordered = Self.order(Array(manifests.keys), upstreams: upstreams)
        var downstream: [EnvironmentName: [EnvironmentName]] = [:]
        for name in ordered { if let upstream = upstreams[name] { downstream[upstream, default: []].append(name) } }
        self.downstream = downstream
        // Only a set without problems is ever updated in place (see `updating`).
        self.ports = diagnostics.isEmpty ? Dictionary(grouping: bound, by: \.address.port) : [:]
    }

    private init(manifests: [EnvironmentName: Manifest], upstreams: [EnvironmentName: EnvironmentName],
                 downstream: [EnvironmentName: [EnvironmentName]], ports: [Int: [Address]]) {
        (self.manifests, self.diagnostics, self.upstreams, self.downstream, self.ports) = (manifests, [], upstreams, downstream, ports)
        self.ordered = Self.order(Array(manifests.keys), upstreams: upstreams)
    }

    /// This set with a few files changed (`old` parse → `new`, nil for a file added or gone),
    /// without checking every file again, when the result is sure to be what `init(parsed:)`
    /// would make: nothing is invalid before or after, no changed file names an upstream or is
    /// one, none shares an address, and nothing is untrusted. Nil otherwise: check them all.
    /// A commit to one environment of thousands costs that environment (README, "The daemon").
    public func updating(_ changes: [(old: ParsedManifest?, new: ParsedManifest?)], untrusted: Set<String>) -> EnvironmentSet? {
        guard diagnostics.isEmpty, untrusted.isEmpty else { return nil }
        for side in changes.flatMap({ [$0.old, $0.new] }) {
            guard let side else { continue }
            guard side.diagnostics.isEmpty, let name = side.name, let manifest = side.manifest,
                  manifest.upstream == nil, downstream[name] == nil else { return nil }
        }
        var manifests = self.manifests, ports = self.ports
        for change in changes {
            guard let name = change.old?.name else { continue }
            manifests[name] = nil
            for address in change.old?.manifest?.addresses ?? [] { ports[address.address.port]?.removeAll { $0.name == name } }
        }
        for change in changes {
            guard let name = change.new?.name, let manifest = change.new?.manifest else { continue }
            guard manifests.index(forKey: name) == nil else { return nil }  // the same name twice
            for address in manifest.addresses {
                if ports[address.address.port]?.contains(where: { $0.name != name && $0.address.overlaps(address.address) }) == true { return nil }
                ports[address.address.port, default: []].append(Address(name: name, key: address.key, address: address.address))
            }
            manifests[name] = manifest
        }
        return EnvironmentSet(manifests: manifests, upstreams: upstreams, downstream: downstream, ports: ports)
    }

    /// The end of `name`'s upstream chain (`name` itself without an upstream or a manifest).
    public func root(of name: EnvironmentName) -> EnvironmentName {
        var root = name, seen: Set<EnvironmentName> = [name]
        while let upstream = upstreams[root], seen.insert(upstream).inserted { root = upstream }
        return root
    }

    /// The environments linked to `name` by `upstream`, either way and at any distance, and `name` itself.
    public func lane(of name: EnvironmentName) -> Set<EnvironmentName> {
        var lane: Set<EnvironmentName> = [name], next = [root(of: name)]
        while let current = next.popLast() {
            lane.insert(current)
            next += (downstream[current] ?? []).filter { !lane.contains($0) }
        }
        return lane
    }

    /// An address a manifest binds (`listen`, `preview`, `stats`).
    private struct Address {
        let name: EnvironmentName
        let key: String
        let address: ListenAddress
    }

    /// One address, one environment: two HAProxies bound to it would split its traffic. Only
    /// addresses on the same port can overlap, so each is compared within its port.
    private static func sharedAddresses(_ addresses: [Address], anchors: [EnvironmentName: ParsedManifest.Anchors],
                                        untrusted: Set<String>) -> [Diagnostic] {
        // By port, then by name: each run of one port is a group.
        let sorted = addresses.sorted { ($0.address.port, $0.name) < ($1.address.port, $1.name) }
        var diagnostics: [Diagnostic] = []
        var start = 0
        while start < sorted.count {
            var end = start + 1
            while end < sorted.count, sorted[end].address.port == sorted[start].address.port { end += 1 }
            let group = sorted[start..<end]
            start = end
            guard group.count > 1 else { continue }
            for entry in group {
                let trusted = !untrusted.contains(entry.name.manifestPath)
                let other = group.first { $0.name != entry.name && $0.address.overlaps(entry.address)
                    && (!trusted || !untrusted.contains($0.name.manifestPath)) }
                guard let other else { continue }
                let at = (entry.key == "preview" ? anchors[entry.name]?.preview : anchors[entry.name]?.listen) ?? .start
                diagnostics.append(Diagnostic(path: entry.name.manifestPath, line: at.line, column: at.column,
                    message: "\(entry.key) \(entry.address) is also \(other.name.manifestPath)'s \(other.key) \(other.address): an address belongs to one environment"))
            }
        }
        return diagnostics
    }

    /// `names` by name, each after its upstream chain: the order environments are planned and listed in.
    public static func order(_ names: [EnvironmentName], upstreams: [EnvironmentName: EnvironmentName]) -> [EnvironmentName] {
        let present = Set(names)
        var result: [EnvironmentName] = [], placed: Set<EnvironmentName> = []
        result.reserveCapacity(names.count)
        func visit(_ name: EnvironmentName) {
            guard present.contains(name), placed.insert(name).inserted else { return }
            if let upstream = upstreams[name] { visit(upstream) }
            result.append(name)
        }
        names.sorted().forEach(visit)
        return result
    }

    private static func cycle(from start: EnvironmentName, in upstreams: [EnvironmentName: EnvironmentName]) -> Bool {
        var seen: Set<EnvironmentName> = [start]
        var current = upstreams[start]
        while let name = current {
            if !seen.insert(name).inserted { return true }
            current = upstreams[name]
        }
        return false
    }
}

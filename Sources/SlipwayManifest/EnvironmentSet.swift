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

    /// Validates parsed manifests together.
    public init(parsed: [ParsedManifest], untrusted: Set<String>) {
        var manifests: [EnvironmentName: Manifest] = [:], anchors: [EnvironmentName: ParsedManifest.Anchors] = [:]
        var diagnostics: [Diagnostic] = []
        for result in parsed {
            diagnostics += result.diagnostics
            if let name = result.name, let manifest = result.manifest {
                manifests[name] = manifest
                anchors[name] = result.anchors
            }
        }
        let broken = Set(diagnostics.map(\.path))
        // Checked against every parsed manifest before any is dropped, so both ends of a cycle are reported.
        let parsed = manifests
        for (name, manifest) in parsed.sorted(by: { $0.key < $1.key }) {
            guard let upstream = manifest.upstream else { continue }
            let problem: String? = if upstream == name {
                "upstream names the environment itself"
            } else if parsed[upstream] == nil && !broken.contains(upstream.manifestPath) {
                "upstream \"\(upstream)\" has no manifest \(upstream.manifestPath)"
            } else if Self.cycle(from: name, in: parsed) {
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
        diagnostics += Self.sharedAddresses(manifests, anchors: anchors, untrusted: untrusted)
        let byPath = Dictionary(manifests.keys.map { ($0.manifestPath, $0) }, uniquingKeysWith: { first, _ in first })
        for path in Set(diagnostics.map(\.path)) {
            if let name = byPath[path] { manifests[name] = nil }
        }
        self.manifests = manifests
        self.diagnostics = diagnostics.sorted { ($0.path, $0.line, $0.column) < ($1.path, $1.line, $1.column) }
    }

    /// One address, one environment: two HAProxies bound to it would split its traffic. Only
    /// addresses on the same port can overlap, so each is compared within its port.
    private static func sharedAddresses(_ manifests: [EnvironmentName: Manifest], anchors: [EnvironmentName: ParsedManifest.Anchors],
                                        untrusted: Set<String>) -> [Diagnostic] {
        let addresses = manifests.sorted { $0.key < $1.key }.flatMap { name, manifest in
            manifest.addresses.map { (name: name, key: $0.key, address: $0.address) }
        }
        var diagnostics: [Diagnostic] = []
        for (_, group) in Dictionary(grouping: addresses, by: \.address.port) where group.count > 1 {
            for (index, entry) in group.enumerated() {
                let trusted = !untrusted.contains(entry.name.manifestPath)
                let other = group.enumerated().first { $0.offset != index && $0.element.name != entry.name && $0.element.address.overlaps(entry.address)
                    && (!trusted || !untrusted.contains($0.element.name.manifestPath)) }?.element
                guard let other else { continue }
                let at = (entry.key == "preview" ? anchors[entry.name]?.preview : anchors[entry.name]?.listen) ?? .start
                diagnostics.append(Diagnostic(path: entry.name.manifestPath, line: at.line, column: at.column,
                    message: "\(entry.key) \(entry.address) is also \(other.name.manifestPath)'s \(other.key) \(other.address): an address belongs to one environment"))
            }
        }
        return diagnostics
    }

    /// Environments in an order where each comes after its upstream.
    public var ordered: [EnvironmentName] {
        var result: [EnvironmentName] = [], placed: Set<EnvironmentName> = []
        func visit(_ name: EnvironmentName) {
            guard !placed.contains(name), manifests[name] != nil else { return }
            placed.insert(name)
            if let upstream = manifests[name]?.upstream { visit(upstream) }
            result.append(name)
        }
        manifests.keys.sorted().forEach(visit)
        return result
    }

    private static func cycle(from start: EnvironmentName, in manifests: [EnvironmentName: Manifest]) -> Bool {
        var seen: Set<EnvironmentName> = [start]
        var current = manifests[start]?.upstream
        while let name = current {
            if !seen.insert(name).inserted { return true }
            current = manifests[name]?.upstream
        }
        return false
    }
}

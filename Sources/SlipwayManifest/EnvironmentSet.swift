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
        self.init(parsed: files.map(Self.parse), files: files, untrusted: [])
    }

    /// Parses the files in parallel (YAML parsing is most of the cost with many environments).
    /// - Parameter untrusted: manifest paths whose content does not count (under `Trust/`): one
    ///   of them never takes an address from a manifest that counts.
    public static func parsing(_ files: [ManifestFile], untrusted: Set<String> = []) async -> EnvironmentSet {
        let results = await withTaskGroup(of: (Int, Parsed).self) { group in
            for (index, file) in files.enumerated() { group.addTask { (index, parse(file)) } }
            var results = [Parsed?](repeating: nil, count: files.count)
            for await (index, result) in group { results[index] = result }
            return results.compactMap { $0 }
        }
        return EnvironmentSet(parsed: results, files: files, untrusted: untrusted)
    }

    typealias Parsed = (name: EnvironmentName?, manifest: Manifest?, diagnostics: [Diagnostic])

    static func parse(_ file: ManifestFile) -> Parsed {
        let base = String(file.path.split(separator: "/").last ?? "")
        if base.hasSuffix(".yml") {
            return (nil, nil, [Diagnostic(path: file.path, line: 1, column: 1,
                message: "not read: manifests are .yaml files; rename it to \(base.dropLast(4)).yaml")])
        }
        guard let stem = environmentName(forFile: base) else { return (nil, nil, []) }
        guard let name = EnvironmentName(stem) else {
            return (nil, nil, [Diagnostic(path: file.path, line: 1, column: 1,
                message: "\"\(stem.clipped)\" is not a valid environment name (\(EnvironmentName.rule))")])
        }
        do {
            return (name, try ManifestParser.parse(file.data, path: file.path), [])
        } catch {
            return (name, nil, error.diagnostics)
        }
    }

    private init(parsed: [Parsed], files: [ManifestFile], untrusted: Set<String>) {
        var manifests: [EnvironmentName: Manifest] = [:]
        var diagnostics: [Diagnostic] = []
        for result in parsed {
            diagnostics += result.diagnostics
            if let name = result.name, let manifest = result.manifest { manifests[name] = manifest }
        }
        // Checked against every parsed manifest before any is dropped, so both ends of a cycle are reported.
        let parsed = manifests
        for (name, manifest) in parsed.sorted(by: { $0.key < $1.key }) {
            guard let upstream = manifest.upstream else { continue }
            let problem: String? = if upstream == name {
                "upstream names the environment itself"
            } else if parsed[upstream] == nil && !diagnostics.contains(where: { $0.path == upstream.manifestPath }) {
                "upstream \"\(upstream)\" has no manifest \(upstream.manifestPath)"
            } else if Self.cycle(from: name, in: parsed) {
                "upstream chain from \(name) loops back to it"
            } else {
                nil
            }
            if let problem {
                let line = Self.line(of: "upstream", in: manifest, files: files, name: name)
                diagnostics.append(Diagnostic(path: name.manifestPath, line: line.0, column: line.1, message: problem))
                manifests[name] = nil
            }
        }
        // One address, one environment: two HAProxies bound to it would split its traffic.
        let addresses = manifests.sorted { $0.key < $1.key }.flatMap { name, manifest in
            manifest.addresses.map { (name, $0.key, $0.address) }
        }
        for (index, (name, key, address)) in addresses.enumerated() {
            let trusted = !untrusted.contains(name.manifestPath)
            let others = addresses.enumerated().filter { $0.offset != index && $0.element.0 != name && $0.element.2.overlaps(address) }.map(\.element)
                .filter { !trusted || !untrusted.contains($0.0.manifestPath) }
            guard let other = others.first else { continue }
            let line = Self.line(of: key == "preview" ? "preview" : "listen", nestedIn: name, files: files)
            diagnostics.append(Diagnostic(path: name.manifestPath, line: line.0, column: line.1,
                message: "\(key) \(address) is also \(other.0.manifestPath)'s \(other.1) \(other.2): an address belongs to one environment"))
        }
        for diagnostic in diagnostics {
            if let name = manifests.keys.first(where: { $0.manifestPath == diagnostic.path }) { manifests[name] = nil }
        }
        self.manifests = manifests
        self.diagnostics = diagnostics.sorted { ($0.path, $0.line, $0.column) < ($1.path, $1.line, $1.column) }
    }

    /// Environments in an order where each comes after its upstream.
    public var ordered: [EnvironmentName] {
        var result: [EnvironmentName] = []
        func visit(_ name: EnvironmentName) {
            guard !result.contains(name), manifests[name] != nil else { return }
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

    /// Line and column of the value of the first `key:` anywhere in a manifest's raw text.
    private static func line(of key: String, nestedIn name: EnvironmentName, files: [ManifestFile]) -> (Int, Int) {
        guard let file = files.first(where: { $0.path == name.manifestPath }),
              let text = String(data: file.data, encoding: .utf8) else { return (1, 1) }
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let range = line.range(of: "\(key):") else { continue }
            let value = line[range.upperBound...].prefix { $0 == " " }.count
            return (index + 1, line.distance(from: line.startIndex, to: range.upperBound) + value + 1)
        }
        return (1, 1)
    }

    /// Line and column of a top-level key, found in the raw text (for cross-file problems).
    private static func line(of key: String, in manifest: Manifest, files: [ManifestFile], name: EnvironmentName) -> (Int, Int) {
        guard let file = files.first(where: { $0.path == name.manifestPath }),
              let text = String(data: file.data, encoding: .utf8) else { return (1, 1) }
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where line.hasPrefix("\(key):") {
            let value = line.dropFirst(key.count + 1).prefix { $0 == " " }.count
            return (index + 1, key.count + 2 + value)
        }
        return (1, 1)
    }
}

import Foundation
import Testing
@testable import SlipwayManifest
import SlipwayCore

/// `EnvironmentSet.updating` against the whole check, over a seeded random walk of changes:
/// whenever it answers, it answers what `init(parsed:)` does.
@Suite("environment set: updated in place or checked whole")
struct EnvironmentSetUpdateTests {
    static func parsed(_ name: String, version: Int, port: Int, preview: Int? = nil, upstream: String? = nil) -> ParsedManifest {
        let text = """
            service: \(name)
            version: "\(version)"
            \(upstream.map { "upstream: \($0)" } ?? "")
            run: { command: ["web", "--port", "{port}"] }
            traffic: { listen: "127.0.0.1:\(port)"\(preview.map { ", preview: \"127.0.0.1:\($0)\"" } ?? "") }

            """
        return EnvironmentSet.parse(ManifestFile(path: "Environments/\(name).yaml", data: Data(text.utf8)))
    }

    @Test("a version change or a new address is updated in place; an address taken, an upstream or a problem checks the set whole")
    func whenInPlace() {
        let files = (0..<5).map { Self.parsed("env-\($0)", version: 1, port: 9000 + $0) } + [Self.parsed("prod", version: 1, port: 9100, upstream: "env-0")]
        let set = EnvironmentSet(parsed: files, untrusted: [])
        #expect(set.updating([(files[1], Self.parsed("env-1", version: 2, port: 9001))], untrusted: []) != nil)
        #expect(set.updating([(files[1], Self.parsed("env-1", version: 2, port: 9050))], untrusted: []) != nil)
        #expect(set.updating([(nil, Self.parsed("env-9", version: 1, port: 9009)), (files[2], nil)], untrusted: []) != nil)
        #expect(set.updating([(files[1], Self.parsed("env-1", version: 2, port: 9002))], untrusted: []) == nil, "env-2's address")
        #expect(set.updating([(files[1], Self.parsed("env-1", version: 2, port: 9001, upstream: "env-3"))], untrusted: []) == nil)
        #expect(set.updating([(files[0], Self.parsed("env-0", version: 2, port: 9000))], untrusted: []) == nil, "prod's upstream")
        #expect(set.updating([(files[1], Self.parsed("env-1", version: 2, port: 9001))], untrusted: ["Environments/env-4.yaml"]) == nil)
    }

    @Test("over 300 random changes, every in-place answer equals the whole check")
    func randomWalk() {
        var generator = SplitMix(seed: 16)
        var files: [String: ParsedManifest] = [:]
        for index in 0..<30 { files["env-\(index)"] = Self.parsed("env-\(index)", version: 1, port: 9000 + index) }
        var set = EnvironmentSet(parsed: Array(files.values), untrusted: [])
        var inPlace = 0
        for step in 0..<300 {
            var changes: [(old: ParsedManifest?, new: ParsedManifest?)] = []
            // A set with problems is mended first (the files named in them made plain again).
            for path in Set(set.diagnostics.map(\.path)) {
                guard let name = EnvironmentName(manifestPath: path) else { continue }
                let plain = Self.parsed(name.rawValue, version: step, port: 10_000 + step * 4 + changes.count)
                changes.append((files[name.rawValue], plain))
                files[name.rawValue] = plain
            }
            for _ in 0...(generator.next() % 3) where changes.isEmpty || generator.next() % 2 == 0 {
                let name = "env-\(generator.next() % 40)"
                if changes.contains(where: { ($0.old ?? $0.new)?.name?.rawValue == name }) { continue }
                let roll = generator.next() % 16
                let new: ParsedManifest? = switch roll {
                case 0: nil                                                                  // deleted (or never there)
                case 1: Self.parsed(name, version: step, port: 9000 + generator.next() % 40)  // maybe someone's address
                case 2: Self.parsed(name, version: step, port: 9500 + step, upstream: "env-\(generator.next() % 40)")
                case 3: Self.parsed(name, version: step, port: 9600 + step, preview: 9000 + generator.next() % 40)
                default: Self.parsed(name, version: step, port: 12_000 + step * 4 + changes.count)
                }
                if files[name] == nil && new == nil { continue }
                changes.append((files[name], new))
                files[name] = new
            }
            let whole = EnvironmentSet(parsed: Array(files.values), untrusted: [])
            if let updated = set.updating(changes, untrusted: []) {
                inPlace += 1
                #expect(updated.manifests == whole.manifests, "step \(step)")
                #expect(updated.diagnostics.isEmpty && whole.diagnostics.isEmpty, "step \(step): \(whole.diagnostics)")
                #expect(updated.ordered == whole.ordered && updated.upstreams == whole.upstreams, "step \(step)")
                #expect(updated.downstream.mapValues(Set.init) == whole.downstream.mapValues(Set.init), "step \(step)")
                set = updated
            } else {
                set = whole
            }
        }
        #expect(inPlace > 50, "the walk took the in-place path \(inPlace) times")
    }
}

/// A small seeded generator: the same walk on every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int(truncatingIfNeeded: (z ^ (z >> 31)) >> 1)
    }
}

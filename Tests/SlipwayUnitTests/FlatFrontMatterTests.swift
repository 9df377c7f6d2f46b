import Foundation
import Testing
import Yams
@testable import SlipwayManifest
@testable import SlipwayRecords
import SlipwayCore

/// Status files are read line by line when they are as flat as Slipway writes them; the
/// result must be what the YAML parser gives, and anything else must go to the parser.
@Suite("flat front matter")
struct FlatFrontMatterTests {
    /// The parser's reading of `text` as the flat reader's nodes, nil when it refuses it.
    func parsed(_ text: String) -> [String: Node]? {
        (try? BoundedYAML.compose(text)?.mapping).map { Fields($0).nodes }
    }

    @Test("a status file Slipway writes is read without the parser, to the same nodes and the same status")
    func statusFiles() throws {
        let deployment = try #require(DeploymentID(text: "20261128T172815.645Z-bb8c5a6"))
        var status = EnvironmentStatus(environment: "production", service: "web", version: "1.0.0", commit: fakeBlob("1"), manifest: fakeBlob("2"),
                                       since: "2026-11-28T17:28:16Z",
                                       instances: [InstanceSummary(id: "web-2d4b1c63", version: "1.0.0"), InstanceSummary(id: "web-f73a1f34", version: "1.0.0"),
                                                   InstanceSummary(id: "web-0a1b2c3d", version: "0.9.0")],
                                       lastResult: .succeeded, lastDeployment: deployment)
        var texts = [FrontMatter.status(status)]
        status.instances = []
        status.version = nil
        texts.append(FrontMatter.status(status))
        for text in texts {
            let flat = try #require(FlatFrontMatter.fields(text), "\(text)")
            #expect(flat.nodes == parsed(text), "\(text)")
        }
        let document = "---\n\(texts[0])\n---\n# production\n"
        #expect(try FrontMatter.parseStatus(document).instances.count == 3)

        // A reason with spaces and quotes in it goes to the parser, and reads back the same.
        status.failedReason = "health check failed: GET /healthz → 503 \"down\" # not a comment"
        status.failedVersion = "2.0.0"
        let failed = FrontMatter.status(status)
        #expect(FlatFrontMatter.fields(failed) == nil)
        #expect(try FrontMatter.parseStatus("---\n\(failed)\n---\n") == status)
    }

    @Test("anything not flat goes to the parser: what it reads it reads alike, the rest is left to it")
    func fallsBack() {
        let flat = ["a: 1.0.0", "a: null", "a: Null", "a: \"\"", "a: \"x: y\"", "a: {}", "a: {1.0.0: []}", "a: {1.0.0: [x, y], 2.0.0: [z]}", "a: 0x1F", "a: 1e3", "a: 2026-11-28", "a: {x: [a,b]}"]
        for text in flat {
            let fields = FlatFrontMatter.fields(text)
            #expect(fields != nil, "\(text)")
            #expect(fields?.nodes == parsed(text), "\(text)")
        }
        let others = ["a: x\na: y", "a: x # c", "a: -1", "a: 'x'", "a: a b", "a: x ", " a: x", "a:x", "a:", "a: \"a\\\"b\"", "a: [x]",
                      "a: {b: c}", "a: {1.0.0: [a, b], 1.0.0: [c]}", "a: {x: [a, ]}", "a: {x: [a,]}", "a: {x: []}, ", "a: {x: [a]} ", "a: {", "a: \"",
                      String(repeating: "k", count: 1100) + ": x", "a: {" + String(repeating: "k", count: 1100) + ": [x]}", "a: {a:b: [x]}", "a: {x: [ a]}", "a: {x: [a]}, ", "a: x:y",
                      "", "a: x\n", "a: x\r", "1a: x", "a: ~", "a: &x y", "a: *x", "a: !t y", "a: |", "a: >", "a: %x", "a: @x", "a: `x"]
        for text in others {
            #expect(FlatFrontMatter.fields(text) == nil, "\(text)")
        }
    }
}

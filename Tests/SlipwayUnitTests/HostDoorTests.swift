import Foundation
import Testing
import Synchronization
import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// The doors to this machine that the pipeline's checks and gates go through: commands run to
/// completion (swift-subprocess) and HTTP checks (AsyncHTTPClient), against real processes and
/// sockets. Here rather than among the end-to-end suites: they take two seconds, and there the
/// suites' blocking helpers can hold every thread of the test process's concurrency pool, which
/// delays what these await past their own timeouts.
@Suite("doors: commands and HTTP checks")
struct HostDoorTests {
    static func scratch() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-doors-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    static func shell(_ script: String, in folder: URL) -> LaunchSpec {
        LaunchSpec(arguments: ["sh", "-c", script], environment: ["PATH": "/usr/bin:/bin", "WHO": "gate"],
                   workingDirectory: folder, logFile: folder.appendingPathComponent("out.log"))
    }

    @Test("a command's status and output; one that outlives its timeout is killed with everything it started")
    func commands() async throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sh = URL(fileURLWithPath: "/bin/sh")
        let done = try await Commands.output(of: Self.shell("echo hello $WHO; echo oops >&2; exit 3", in: folder), executable: sh, timeout: .seconds(10))
        #expect(done.status == 3 && done.text == "hello gate\noops\n", "\(done)")
        let killed = try await Commands.run(Self.shell("kill -9 $$", in: folder), executable: sh, timeout: .seconds(10))
        #expect(killed == 137)

        let started = ContinuousClock.now
        let late = try await Commands.output(of: Self.shell("sleep 30 & echo $! > child.pid; wait", in: folder), executable: sh, timeout: .milliseconds(500))
        #expect(late.status == nil && started.duration(to: .now) < .seconds(10))
        let child = try #require(Int32(String(contentsOf: folder.appendingPathComponent("child.pid"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        let deadline = ContinuousClock.now + .seconds(10)
        while kill(child, 0) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(kill(child, 0) != 0, "the gate's own child (pid \(child)) outlived the timeout")
    }

    @Test("HTTP checks: a redirect is not followed, a chunked body is read, a huge body is cut at 1 MiB, a closed port fails fast")
    func http() async throws {
        let redirect = try CannedHTTPServer(answer: Array("HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
        defer { redirect.stop() }
        #expect(try await HTTPProbe.get(host: "127.0.0.1", port: redirect.port, path: "/healthz").status == 302)

        let chunked = try CannedHTTPServer(answer: Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nok \r\n4\r\n1.2\n\r\n0\r\n\r\n".utf8))
        defer { chunked.stop() }
        let answer = try await HTTPProbe.get(host: "localhost", port: chunked.port, path: "/")
        #expect(answer.status == 200 && answer.body == "ok 1.2\n")

        let huge = try CannedHTTPServer(answer: Array("HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\nConnection: close\r\n\r\n".utf8)
            + [UInt8](repeating: UInt8(ascii: "x"), count: 3_000_000))
        defer { huge.stop() }
        #expect(try await HTTPProbe.get(url: "http://127.0.0.1:\(huge.port)/", timeout: .seconds(10)).body.utf8.count == 1_048_576)

        let closed = try CannedHTTPServer(answer: [])
        let port = closed.port
        closed.stop()
        let started = ContinuousClock.now
        await #expect(throws: (any Error).self) { try await HTTPProbe.get(host: "127.0.0.1", port: port, path: "/") }
        #expect(started.duration(to: .now) < .seconds(2))
    }

    @Test("the exit watcher reports a process's exit at once, and a pid already gone once only")
    func exitWatcher() async throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let reported = Reports()
        let watcher = try ExitWatcher { pid in reported.add(pid) }
        defer { watcher.stop() }
        let child = try ProcessControl.spawn(Self.shell("sleep 0.3", in: folder), executable: URL(fileURLWithPath: "/bin/sh"))
        watcher.watch([child.pid])
        let deadline = ContinuousClock.now + .seconds(10)
        while !reported.contains(child.pid), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(reported.contains(child.pid))
        _ = await ProcessControl.waitForExit(child, timeout: .seconds(1))  // reaped: the pid is gone for good

        for _ in 0..<3 {  // asked for again at every look, as a stale pid file would be
            watcher.watch([child.pid, 1])
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(200))  // a negative check: time in which no second report may come
        #expect(reported.count(child.pid) == 1, "a pid reported gone is not reported again while it is asked for")
    }
}

/// What an `ExitWatcher` reported, for the test.
final class Reports: Sendable {
    private let pids = Mutex<[Int32]>([])
    func add(_ pid: Int32) { pids.withLock { $0.append(pid) } }
    func contains(_ pid: Int32) -> Bool { pids.withLock { $0.contains(pid) } }
    func count(_ pid: Int32) -> Int { pids.withLock { $0.filter { $0 == pid }.count } }
}

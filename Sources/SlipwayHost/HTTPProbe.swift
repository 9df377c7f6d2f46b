import AsyncHTTPClient
import Foundation
import NIOCore

/// One HTTP GET with one timeout for the whole exchange, through AsyncHTTPClient: health,
/// smoke, endpoint and monitoring checks. Host names, TLS and chunked bodies work; redirects
/// are not followed (a check that is redirected to a login page has not passed), and at most
/// 1 MiB of a body is read.
public enum HTTPProbe {
    public struct Response: Sendable {
        public let status: Int
        public let body: String
        public init(status: Int, body: String) {
            self.status = status
            self.body = body
        }
    }

    static let maximumBody = 1_048_576

    /// Lives as long as the process, as `HTTPClient.shared` does (so it is never shut down).
    private static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, decompression: .disabled)
        configuration.connectionPool = .init(idleTimeout: .seconds(5))
        // A check reports what it finds: a refused connection is the answer (nothing listens
        // there), not something to retry until the timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }())

    /// GET `path` on `host:port` over plain HTTP (`*`, `0.0.0.0` and `localhost` mean 127.0.0.1).
    public static func get(host: String, port: Int, path: String, timeout: Duration = .seconds(2)) async throws -> Response {
        let host = ["*", "localhost", "0.0.0.0"].contains(host) ? "127.0.0.1" : host
        return try await get(url: "http://\(host):\(port)\(path)", timeout: timeout)
    }

    /// GET `url` (http or https).
    public static func get(url: String, timeout: Duration = .seconds(2)) async throws -> Response {
        try await send(HTTPClientRequest(url: url), timeout: timeout)
    }

    /// POST `body` to `url` (http or https) with `headers`; the answer's body is read as for a GET.
    public static func post(url: String, body: [UInt8], headers: [(String, String)], timeout: Duration) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        return try await send(request, timeout: timeout)
    }

    private static func send(_ request: HTTPClientRequest, timeout: Duration) async throws -> Response {
        var request = request
        let url = request.url
        request.headers.add(name: "User-Agent", value: "slipway")
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        let deadline = NIODeadline.now() + .nanoseconds(nanoseconds)
        let response = try await client.execute(request, deadline: deadline)
        var body = ByteBuffer()
        for try await var chunk in response.body {
            let room = maximumBody - body.readableBytes
            if chunk.readableBytes >= room {
                body.writeImmutableBuffer(chunk.readSlice(length: room) ?? ByteBuffer())
                break
            }
            body.writeBuffer(&chunk)
            guard NIODeadline.now() < deadline else { throw HTTPProbeError("no whole answer from \(url) within \(timeout)") }
        }
        return Response(status: Int(response.status.code), body: String(buffer: body))
    }
}

struct HTTPProbeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

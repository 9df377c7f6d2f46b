import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small read-only HTTP/1.1 server on SwiftNIO (already in Slipway for its HTTP client): GET
/// and HEAD only, request heads bounded by NIO's parser, at most `maximumConnections` at once
/// (more are closed at once), a connection closed after `idleTimeout` without a byte and after
/// `lifetime` in all, so a client that trickles bytes holds one slot for a while at most.
struct HTTPServer: Sendable {
    struct Request: Sendable {
        let path: String
        /// The Host header, as sent.
        let host: String
    }

    struct Answer: Sendable {
        var status: HTTPResponseStatus = .ok
        var contentType = "text/plain; charset=utf-8"
        var body: String
    }

    typealias Handler = @Sendable (Request) async -> Answer

    var maximumConnections = 32
    var idleTimeout: TimeAmount = .seconds(30)
    var lifetime: TimeAmount = .minutes(2)

    /// Binds and serves until the returned channel is closed; the channel's local address has the port.
    func start(host: String, port: Int, handler: @escaping Handler) async throws -> any Channel {
        let open = Mutex(0)
        let limit = maximumConnections, idle = idleTimeout, lifetime = lifetime
        return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let admitted = open.withLock { count -> Bool in
                    guard count < limit else { return false }
                    count += 1
                    return true
                }
                guard admitted else { return channel.close() }
                channel.closeFuture.whenComplete { _ in open.withLock { $0 -= 1 } }
                channel.eventLoop.scheduleTask(in: lifetime) { channel.close(promise: nil) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idle))
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(handler: handler))
                }
            }
            .bind(host: host, port: port).get()
    }
}

/// Answers each request of one connection with `handler`'s answer, in order.
private final class RequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let handler: HTTPServer.Handler
    private var head: HTTPRequestHead?

    init(handler: @escaping HTTPServer.Handler) { self.handler = handler }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request): head = request
        case .body: break  // a GET has none worth reading; NIO's parser bounds what arrives
        case .end:
            guard let request = head else { return }
            head = nil
            respond(to: request, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }

    private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let keepAlive = request.isKeepAlive
        let promise = context.eventLoop.makePromise(of: HTTPServer.Answer.self)
        if request.method == .GET || request.method == .HEAD {
            let path = String(request.uri.prefix { $0 != "?" })
            let handler = self.handler, host = request.headers["Host"].first ?? ""
            promise.completeWithTask { await handler(HTTPServer.Request(path: path, host: host)) }
        } else {
            promise.succeed(HTTPServer.Answer(status: .methodNotAllowed, body: "read-only: GET only\n"))
        }
        let head = request.method == .HEAD
        promise.futureResult.assumeIsolated().whenSuccess { answer in
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: answer.contentType)
            headers.add(name: "Content-Length", value: "\(answer.body.utf8.count)")
            headers.add(name: "Cache-Control", value: "no-store")
            headers.add(name: "X-Content-Type-Options", value: "nosniff")
            // The page runs only its own script, and nothing it shows is read as markup.
            headers.add(name: "Content-Security-Policy", value: "default-src 'self'; style-src 'self' 'unsafe-inline'")
            headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
            context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: answer.status, headers: headers))), promise: nil)
            if !head { context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: answer.body)))), promise: nil) }
            let done = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
            if !keepAlive { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
        }
    }
}

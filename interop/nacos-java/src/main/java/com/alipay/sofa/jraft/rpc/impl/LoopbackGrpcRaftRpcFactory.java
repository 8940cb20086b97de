package com.alipay.sofa.jraft.rpc.impl;

import com.alipay.sofa.jraft.rpc.RpcServer;
import com.alipay.sofa.jraft.util.Endpoint;
import com.alipay.sofa.jraft.util.SPI;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.util.MutableHandlerRegistry;

import java.net.InetSocketAddress;

/**
 * Test-harness override of JRaft's gRPC transport factory.
 *
 * <p>Nacos standalone still starts a JRaft node (used for persistent naming
 * data) on main port - 1000. The stock {@link GrpcRaftRpcFactory} builds its
 * server with {@code ServerBuilder.forPort}, i.e. on the wildcard address.
 * This subclass (selected through JRaft's SPI by its higher priority) binds
 * the same server to {@code -Dnacosinterop.raft.bind} (default 127.0.0.1)
 * instead. It lives in JRaft's package only to reach the package-private
 * parser map and message size limit of its superclass.
 */
@SPI(priority = 100)
public class LoopbackGrpcRaftRpcFactory extends GrpcRaftRpcFactory {

    @Override
    public RpcServer createRpcServer(Endpoint endpoint, ConfigHelper<RpcServer> helper) {
        if (endpoint == null || endpoint.getPort() <= 0 || endpoint.getPort() >= 65535) {
            throw new IllegalArgumentException("bad raft endpoint: " + endpoint);
        }
        String host = System.getProperty("nacosinterop.raft.bind", "127.0.0.1");
        MutableHandlerRegistry registry = new MutableHandlerRegistry();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(host, endpoint.getPort()))
                .fallbackHandlerRegistry(registry)
                .directExecutor()
                .maxInboundMessageSize(RPC_MAX_INBOUND_MESSAGE_SIZE)
                .build();
        GrpcServer rpcServer = new GrpcServer(server, registry, parserClasses, getMarshallerRegistry());
        if (helper != null) {
            helper.config(rpcServer);
        }
        return rpcServer;
    }
}

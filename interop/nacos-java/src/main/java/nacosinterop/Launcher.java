package nacosinterop;

import com.alibaba.nacos.NacosServerBasicApplication;
import com.alibaba.nacos.NacosServerWebApplication;
import com.alibaba.nacos.console.NacosConsole;
import com.alibaba.nacos.core.listener.startup.NacosStartUp;
import com.alibaba.nacos.core.listener.startup.NacosStartUpManager;
import com.alibaba.nacos.sys.env.DeploymentType;
import com.alibaba.nacos.sys.env.EnvUtil;
import org.springframework.boot.Banner;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.jmx.export.MBeanExporter;
import org.springframework.jmx.support.RegistrationPolicy;

import java.lang.reflect.Field;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;

/**
 * Starts a real Nacos 3.1 server in-process for differential tests.
 *
 * <p>The Maven Central republish of Nacos 3.1 does not ship the
 * {@code nacos-bootstrap} module, so this class performs the same three
 * start-up phases itself: a non-web "core" context, the server web context
 * (HTTP open API on {@code nacos.server.main.port}, gRPC on +1000/+1001) as
 * its child and, only when {@code -Dnacos.deployment.type=merged}, the
 * console context (on {@code nacos.console.port}) as a second child.
 * The default deployment type here is {@code server}: no console, one port
 * fewer, faster start.
 */
public final class Launcher {

    private Launcher() {
    }

    public static void main(String[] args) {
        String typeName = System.getProperty("nacos.deployment.type", "server");
        DeploymentType type = DeploymentType.getType(typeName);
        if (type != DeploymentType.SERVER && type != DeploymentType.MERGED) {
            throw new IllegalArgumentException("launcher supports nacos.deployment.type=server|merged, got " + typeName);
        }
        System.setProperty("nacos.deployment.type", typeName);
        EnvUtil.setDeploymentType(type);

        NacosStartUpManager.start(NacosStartUp.CORE_START_UP_PHASE);
        ConfigurableApplicationContext core = new SpringApplicationBuilder(NacosServerBasicApplication.class)
                .web(WebApplicationType.NONE)
                .bannerMode(Banner.Mode.OFF)
                .run(args);
        if (core.getEnvironment().getProperty("spring.jmx.enabled", Boolean.class, false)) {
            // child contexts would otherwise register the same MBeans again
            core.getBean(MBeanExporter.class).setRegistrationPolicy(RegistrationPolicy.IGNORE_EXISTING);
        }

        NacosStartUpManager.start(NacosStartUp.WEB_START_UP_PHASE);
        ConfigurableApplicationContext web = new SpringApplicationBuilder(NacosServerWebApplication.class)
                .parent(core)
                .bannerMode(Banner.Mode.OFF)
                .run(args);
        rebindUdpPushSocket(web);

        if (type == DeploymentType.MERGED) {
            NacosStartUpManager.start(NacosStartUp.CONSOLE_START_UP_PHASE);
            new SpringApplicationBuilder(NacosConsole.class)
                    .parent(core)
                    .bannerMode(Banner.Mode.OFF)
                    .run(args);
        }
        System.out.println("nacos-interop-launcher: all contexts started (" + typeName + ")");
    }

    /**
     * The naming module's UDP push connector (for 1.x clients) opens
     * {@code new DatagramSocket()}, i.e. a wildcard-bound ephemeral port, and
     * offers no setting for it. Swap it for a loopback-bound socket; the
     * receiver thread re-reads the field on every loop, so closing the old
     * socket moves it over.
     */
    private static void rebindUdpPushSocket(ConfigurableApplicationContext ctx) {
        final String beanClass = "com.alibaba.nacos.naming.remote.udp.UdpConnector";
        try {
            Class<?> type = Class.forName(beanClass);
            Object connector = ctx.getBeanProvider(type).getIfAvailable();
            if (connector == null) {
                return;
            }
            Field field = type.getDeclaredField("udpSocket");
            field.setAccessible(true);
            DatagramSocket old = (DatagramSocket) field.get(connector);
            String host = System.getProperty("nacosinterop.udp.bind", "127.0.0.1");
            field.set(connector, new DatagramSocket(new InetSocketAddress(host, 0)));
            if (old != null) {
                old.close();
            }
        } catch (ReflectiveOperationException | java.io.IOException | RuntimeException e) {
            System.out.println("nacos-interop-launcher: WARNING could not rebind UDP push socket: " + e);
        }
    }
}

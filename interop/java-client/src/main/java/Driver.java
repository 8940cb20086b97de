import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.config.ConfigFactory;
import com.alibaba.nacos.api.config.ConfigService;
import com.alibaba.nacos.api.config.listener.AbstractListener;
import com.alibaba.nacos.api.naming.NamingFactory;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.listener.NamingEvent;
import com.alibaba.nacos.api.naming.pojo.Instance;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * Drives the official Nacos Java client against a registry and prints one JSON object per line
 * (an "event") on stdout. Exit 0 when the scenario completed, non-zero otherwise (the last line is
 * then {"event":"error",...}).
 *
 * <pre>
 *   java -cp target/classes:$(cat target/classpath.txt) Driver 127.0.0.1:8848 naming SERVICE
 *   java ... Driver ADDR config DATA_ID [GROUP]
 *   java ... Driver ADDR persistent SERVICE
 * </pre>
 *
 * Every wait is bounded: WAIT_SECONDS (system property driver.wait, default 15) per step and a
 * watchdog (driver.deadline, default 55 s) that halts the JVM.
 */
public final class Driver {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long WAIT_MS = Long.getLong("driver.wait", 15) * 1000;
    private static final long DEADLINE_MS = Long.getLong("driver.deadline", 55) * 1000;
    private static final long START_NS = System.nanoTime();

    private Driver() {
    }

    // ------------------------------------------------------------------ output

    static synchronized void emit(String event, Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("event", event);
        m.put("t", Math.round((System.nanoTime() - START_NS) / 1e6) / 1000.0);
        for (int i = 0; i + 1 < kv.length; i += 2) {
            m.put(String.valueOf(kv[i]), kv[i + 1]);
        }
        try {
            System.out.println(JSON.writeValueAsString(m));
        } catch (Exception e) {
            System.out.println("{\"event\":\"error\",\"message\":\"json: " + e + "\"}");
        }
        System.out.flush();
    }

    static final class Failure extends RuntimeException {
        Failure(String message) {
            super(message);
        }
    }

    static <T> T waitFor(String what, Supplier<T> probe, Predicate<T> ok) throws InterruptedException {
        long end = System.currentTimeMillis() + WAIT_MS;
        T last = null;
        while (true) {
            try {
                last = probe.get();
                if (ok.test(last)) {
                    return last;
                }
            } catch (RuntimeException e) {
                emit("retry", "step", what, "error", e.toString());
            }
            if (System.currentTimeMillis() > end) {
                throw new Failure("timeout after " + WAIT_MS / 1000 + " s waiting for " + what + "; last=" + last);
            }
            Thread.sleep(200);
        }
    }

    static Properties clientProperties(String addr) {
        Properties p = new Properties();
        p.setProperty(PropertyKeyConst.SERVER_ADDR, addr);
        p.setProperty(PropertyKeyConst.NAMESPACE, System.getProperty("driver.namespace", ""));
        // no on-disk cache of earlier runs
        p.setProperty(PropertyKeyConst.NAMING_LOAD_CACHE_AT_START, "false");
        return p;
    }

    // ------------------------------------------------------------------ naming

    static Map<String, Object> describe(Instance i) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ip", i.getIp());
        m.put("port", i.getPort());
        m.put("weight", i.getWeight());
        m.put("healthy", i.isHealthy());
        m.put("enabled", i.isEnabled());
        m.put("ephemeral", i.isEphemeral());
        m.put("clusterName", i.getClusterName());
        m.put("serviceName", i.getServiceName());
        m.put("instanceId", i.getInstanceId());
        m.put("metadata", i.getMetadata());
        return m;
    }

    static List<Map<String, Object>> describe(List<Instance> list) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Instance i : list) {
            out.add(describe(i));
        }
        return out;
    }

    static Set<String> hostSet(List<Instance> list) {
        Set<String> s = new TreeSet<>();
        for (Instance i : list) {
            s.add(i.getIp() + ":" + i.getPort());
        }
        return s;
    }

    static Instance instance(String ip, int port, double weight, boolean ephemeral, Map<String, String> meta) {
        Instance i = new Instance();
        i.setIp(ip);
        i.setPort(port);
        i.setWeight(weight);
        i.setEphemeral(ephemeral);
        i.setHealthy(true);
        i.setEnabled(true);
        i.setClusterName("DEFAULT");
        i.setMetadata(new LinkedHashMap<>(meta));
        return i;
    }

    /** Waits until a push whose host set equals {@code want} has been seen (pushes are also printed). */
    static void awaitPush(BlockingQueue<Set<String>> pushes, Set<String> want) throws InterruptedException {
        long end = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            long left = end - System.currentTimeMillis();
            Set<String> got = left > 0 ? pushes.poll(left, TimeUnit.MILLISECONDS) : null;
            if (got == null) {
                throw new Failure("timeout after " + WAIT_MS / 1000 + " s waiting for a push with hosts " + want);
            }
            if (got.equals(want)) {
                emit("push_matched", "hosts", want);
                return;
            }
        }
    }

    static void naming(String addr, String service) throws Exception {
        String group = "DEFAULT_GROUP";
        Map<String, String> metaA = Map.of("role", "a", "version", "1.0");
        Map<String, String> metaB = Map.of("role", "b", "zone", "z2");
        Instance a = instance("10.10.0.1", 8081, 1.0, true, metaA);
        Instance b = instance("10.10.0.2", 8082, 2.5, true, metaB);
        String hostA = "10.10.0.1:8081";
        String hostB = "10.10.0.2:8082";

        NamingService ns1 = NamingFactory.createNamingService(clientProperties(addr));
        NamingService ns2 = NamingFactory.createNamingService(clientProperties(addr));
        emit("clients", "count", 2, "status1", ns1.getServerStatus(), "status2", ns2.getServerStatus());
        try {
            ns1.registerInstance(service, group, a);
            emit("registered", "client", 1, "host", hostA);

            BlockingQueue<Set<String>> pushes = new LinkedBlockingQueue<>();
            ns1.subscribe(service, group, event -> {
                if (event instanceof NamingEvent) {
                    NamingEvent ne = (NamingEvent) event;
                    Set<String> hosts = hostSet(ne.getInstances());
                    emit("push", "service", ne.getServiceName(), "group", ne.getGroupName(),
                            "hosts", hosts, "instances", describe(ne.getInstances()));
                    pushes.add(hosts);
                }
            });
            emit("subscribed", "service", service);
            awaitPush(pushes, Set.of(hostA));

            ns2.registerInstance(service, group, b);
            emit("registered", "client", 2, "host", hostB);
            awaitPush(pushes, new TreeSet<>(List.of(hostA, hostB)));

            List<Instance> all = waitFor("getAllInstances lists both",
                    () -> call(() -> ns1.getAllInstances(service, group)),
                    l -> hostSet(l).equals(new TreeSet<>(List.of(hostA, hostB))));
            emit("all_instances", "hosts", hostSet(all), "instances", describe(all));
            List<Instance> allDirect = ns2.getAllInstances(service, group, false);
            emit("all_instances_direct", "hosts", hostSet(allDirect), "instances", describe(allDirect));

            ns2.deregisterInstance(service, group, b);
            emit("deregistered", "client", 2, "host", hostB);
            awaitPush(pushes, Set.of(hostA));

            List<Instance> healthy = waitFor("selectInstances(healthy) lists only A",
                    () -> call(() -> ns1.selectInstances(service, group, true)),
                    l -> hostSet(l).equals(Set.of(hostA)));
            emit("select_healthy", "hosts", hostSet(healthy), "instances", describe(healthy));

            ns1.deregisterInstance(service, group, a);
            emit("deregistered", "client", 1, "host", hostA);
            List<Instance> after = waitFor("getAllInstances empty after both deregistered",
                    () -> call(() -> ns2.getAllInstances(service, group, false)), List::isEmpty);
            emit("all_instances_direct", "hosts", hostSet(after), "instances", describe(after));
        } finally {
            shutdown(ns1);
            shutdown(ns2);
        }
    }

    static void persistent(String addr, String service) throws Exception {
        String group = "DEFAULT_GROUP";
        Instance p = instance("10.20.0.1", 9090, 3.0, false, Map.of("kind", "persistent"));
        String host = "10.20.0.1:9090";
        NamingService ns = NamingFactory.createNamingService(clientProperties(addr));
        emit("clients", "count", 1, "status1", ns.getServerStatus());
        try {
            // the client sends persistent instances over gRPC only when the server's SetupAck ability
            // table says supportPersistentInstanceByGrpc, else over HTTP /nacos/v1/ns/instance
            emit("persistent_transport", "transport", persistentTransport(ns));
            ns.registerInstance(service, group, p);
            emit("registered", "client", 1, "host", host, "ephemeral", false);
            List<Instance> all = waitFor("getAllInstances lists the persistent instance",
                    () -> call(() -> ns.getAllInstances(service, group, false)),
                    l -> hostSet(l).equals(Set.of(host)));
            emit("all_instances_direct", "hosts", hostSet(all), "instances", describe(all));
            ns.deregisterInstance(service, group, p);
            emit("deregistered", "client", 1, "host", host, "ephemeral", false);
            List<Instance> after = waitFor("getAllInstances empty after deregister",
                    () -> call(() -> ns.getAllInstances(service, group, false)), List::isEmpty);
            emit("all_instances_direct", "hosts", hostSet(after), "instances", describe(after));
        } finally {
            shutdown(ns);
        }
    }

    /** "grpc" or "http" as NamingClientProxyDelegate would choose for a persistent instance; null if unknown. */
    static String persistentTransport(NamingService ns) {
        try {
            java.lang.reflect.Field proxyField = ns.getClass().getDeclaredField("clientProxy");
            proxyField.setAccessible(true);
            Object delegate = proxyField.get(ns);
            java.lang.reflect.Field grpcField = delegate.getClass().getDeclaredField("grpcClientProxy");
            grpcField.setAccessible(true);
            Object grpc = grpcField.get(delegate);
            Object supported = grpc.getClass()
                    .getMethod("isAbilitySupportedByServer", com.alibaba.nacos.api.ability.constant.AbilityKey.class)
                    .invoke(grpc, com.alibaba.nacos.api.ability.constant.AbilityKey.SERVER_PERSISTENT_INSTANCE_BY_GRPC);
            return Boolean.TRUE.equals(supported) ? "grpc" : "http";
        } catch (Exception | LinkageError e) {
            emit("warning", "message", "cannot tell the persistent-instance transport: " + e);
            return null;
        }
    }

    // ------------------------------------------------------------------ config

    static void config(String addr, String dataId, String group) throws Exception {
        String v1 = "greeting=hello\nfrom=java-client v1";
        String v2 = "greeting=bonjour\nfrom=java-client v2 \u00e9\u00e8";
        ConfigService cs = ConfigFactory.createConfigService(clientProperties(addr));
        emit("clients", "count", 1, "status1", cs.getServerStatus());
        try {
            boolean ok = cs.publishConfig(dataId, group, v1);
            emit("published", "ok", ok, "content", v1);
            if (!ok) {
                throw new Failure("publishConfig(v1) returned false");
            }
            String got = waitFor("getConfig returns v1",
                    () -> call(() -> cs.getConfig(dataId, group, 3000)), v1::equals);
            emit("get", "content", got);

            BlockingQueue<String> changes = new LinkedBlockingQueue<>();
            cs.addListener(dataId, group, new AbstractListener() {
                @Override
                public void receiveConfigInfo(String configInfo) {
                    emit("listener", "content", configInfo);
                    changes.add(configInfo == null ? "\u0000null" : configInfo);
                }
            });
            emit("listening", "dataId", dataId, "group", group);
            // let the client's listen task register the key with the server before changing it
            Thread.sleep(Long.getLong("driver.listenSettleMs", 1000));

            ok = cs.publishConfig(dataId, group, v2);
            emit("published", "ok", ok, "content", v2);
            if (!ok) {
                throw new Failure("publishConfig(v2) returned false");
            }
            long end = System.currentTimeMillis() + WAIT_MS;
            while (true) {
                long left = end - System.currentTimeMillis();
                String c = left > 0 ? changes.poll(left, TimeUnit.MILLISECONDS) : null;
                if (c == null) {
                    throw new Failure("timeout after " + WAIT_MS / 1000 + " s waiting for the listener to see v2");
                }
                if (c.equals(v2)) {
                    emit("listener_matched", "content", v2);
                    break;
                }
            }
            got = waitFor("getConfig returns v2",
                    () -> call(() -> cs.getConfig(dataId, group, 3000)), v2::equals);
            emit("get", "content", got);

            ok = cs.removeConfig(dataId, group);
            emit("removed", "ok", ok);
            if (!ok) {
                throw new Failure("removeConfig returned false");
            }
            got = waitFor("getConfig returns null after remove",
                    () -> call(() -> cs.getConfig(dataId, group, 3000)), Objects::isNull);
            emit("get", "content", got);
        } finally {
            try {
                cs.shutDown();
            } catch (Exception e) {
                emit("warning", "message", "config shutDown: " + e);
            }
        }
    }

    // ------------------------------------------------------------------ plumbing

    interface Call<T> {
        T run() throws Exception;
    }

    static <T> T call(Call<T> c) {
        try {
            return c.run();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    static void shutdown(NamingService ns) {
        try {
            ns.shutDown();
        } catch (Exception e) {
            emit("warning", "message", "naming shutDown: " + e);
        }
    }

    public static void main(String[] args) {
        if (args.length < 3) {
            System.err.println("usage: Driver ADDR (naming SERVICE | persistent SERVICE | config DATA_ID [GROUP])");
            System.exit(64);
        }
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(DEADLINE_MS);
                emit("error", "message", "watchdog: scenario exceeded " + DEADLINE_MS / 1000 + " s");
                Runtime.getRuntime().halt(3);
            } catch (InterruptedException ignored) {
                // finished in time
            }
        }, "driver-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();

        String addr = args[0];
        String scenario = args[1];
        emit("start", "scenario", scenario, "server", addr,
                "client_version", com.alibaba.nacos.common.utils.VersionUtils.version);
        int rc = 0;
        try {
            switch (scenario) {
                case "naming":
                    naming(addr, args[2]);
                    break;
                case "persistent":
                    persistent(addr, args[2]);
                    break;
                case "config":
                    config(addr, args[2], args.length > 3 ? args[3] : "DEFAULT_GROUP");
                    break;
                default:
                    throw new Failure("unknown scenario " + scenario);
            }
            emit("done", "scenario", scenario);
        } catch (Throwable e) {
            emit("error", "message", String.valueOf(e.getMessage()), "exception", e.getClass().getName());
            e.printStackTrace();
            rc = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(rc); // client thread pools are not all daemon threads
    }
}

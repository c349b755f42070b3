// Key generation in Java's JCA: one JSON line per algorithm (see README.md).
// Per key: KeyPairGenerator, then getEncoded() of the private (PKCS#8) and public (X.509 SPKI)
// keys; HMAC: bytes from a default SecureRandom.
//   java -cp target/peers-java Gen [--samples N] [--batch N]

import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.spec.ECGenParameterSpec;
import java.util.Arrays;
import java.util.Locale;

public class Gen {
    interface Key {
        byte[][] one() throws Exception;
    }

    // One generator per algorithm, reused for every key (the cheapest a Java server can do).
    static Key pair(KeyPairGenerator generator) {
        return () -> {
            KeyPair pair = generator.generateKeyPair();
            return new byte[][] {pair.getPrivate().getEncoded(), pair.getPublic().getEncoded()};
        };
    }

    static Key rsa(int bits) throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(bits);
        return pair(generator);
    }

    static Key ec(String curve) throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec(curve));
        return pair(generator);
    }

    static final SecureRandom RANDOM = new SecureRandom();

    static Key secret(int size) {
        return () -> {
            byte[] bytes = new byte[size];
            RANDOM.nextBytes(bytes);
            return new byte[][] {bytes};
        };
    }

    // The first key's output looks right: two DER SEQUENCEs, or a secret of the right size.
    static void check(String label, byte[][] out) {
        boolean ok = out.length == 1
            ? out[0].length == Integer.parseInt(label.substring(2)) / 8
            : out[0][0] == 0x30 && out[1][0] == 0x30;
        if (!ok) {
            throw new IllegalStateException(label + ": unexpected output");
        }
    }

    // Median time per key: one key per sample (RSA) or a batch divided by its size.
    static double medianUs(Key key, boolean slow, int samples, int batch) throws Exception {
        int n = slow ? 1 : batch;
        for (int i = 0; i < (slow ? 3 : 200); i++) {
            key.one();
        }
        double[] times = new double[samples];
        for (int s = 0; s < samples; s++) {
            long start = System.nanoTime();
            for (int i = 0; i < n; i++) {
                key.one();
            }
            times[s] = (System.nanoTime() - start) / (double) n / 1000;
        }
        Arrays.sort(times);
        int mid = samples / 2;
        return samples % 2 == 1 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
    }

    static int option(String[] args, String name, int fallback) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(name)) {
                int value = Integer.parseInt(args[i + 1]);
                if (value < 1) {
                    throw new IllegalArgumentException(name + " must be positive");
                }
                return value;
            }
        }
        return fallback;
    }

    public static void main(String[] args) throws Exception {
        int samples = option(args, "--samples", 30);
        int batch = option(args, "--batch", 100);
        String peer = "java " + System.getProperty("java.version")
            + " (" + System.getProperty("java.vm.name") + ", SunRsaSign/SunEC)";
        Object[][] algorithms = {
            {"RSA-2048", rsa(2048), true},
            {"RSA-3072", rsa(3072), true},
            {"RSA-4096", rsa(4096), true},
            {"P-256", ec("secp256r1"), false},
            {"P-384", ec("secp384r1"), false},
            {"P-521", ec("secp521r1"), false},
            {"Ed25519", pair(KeyPairGenerator.getInstance("Ed25519")), false},
            {"HS256", secret(32), false},
            {"HS384", secret(48), false},
            {"HS512", secret(64), false},
        };
        for (Object[] algorithm : algorithms) {
            String label = (String) algorithm[0];
            Key key = (Key) algorithm[1];
            check(label, key.one());
            double median = medianUs(key, (Boolean) algorithm[2], samples, batch);
            System.out.println(String.format(Locale.ROOT,
                "{\"peer\":\"%s\",\"algorithm\":\"%s\",\"median_us\":%.3f,\"samples\":%d}",
                peer, label, median, samples));
            System.out.flush();
        }
    }
}

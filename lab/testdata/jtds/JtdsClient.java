// An independent TDS client for the lab's tests: jTDS (Java, Debian's
// libjtds-java). lab/clients_jtds_test.go compiles it with javac in a
// temporary directory and runs it with the JDBC URL, user and password as
// arguments and one step per line on stdin:
//
//   batch<TAB>sql                  Statement.execute, every result
//   query<TAB>sql<TAB>param...     PreparedStatement; params i:42 or s:text
//   callout<TAB>sql<TAB>param...   CallableStatement; an "o:int" param is
//                                  an OUTPUT int, printed after the results
//   autocommit<TAB>0|1, commit, rollback
//
// In sql, \n stands for a newline. It prints, per step: "STEP n", then
// "COLS name:type..." and "ROW v..." per result set, "COUNT n" per update
// count, "ERR number<TAB>message", "OUT index<TAB>value", "END n"; a failed
// login prints "LOGINERR number<TAB>message".
//
// TLS: jTDS's default (ssl=off) offers no encryption and a lab server that
// does not force it answers in clear text; ssl=require in the URL would
// test the lab's TLS through jTDS (not done here).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.*;
import java.util.ArrayList;
import java.util.List;

public class JtdsClient {
    static String clean(Object o) throws SQLException {
        if (o == null) return "NULL";
        if (o instanceof Clob) {
            // ntext: what TDS 7.1 gets for nvarchar(max).
            Clob c = (Clob) o;
            return clean(c.getSubString(1, (int) c.length()));
        }
        if (o instanceof byte[]) {
            StringBuilder sb = new StringBuilder("0x");
            for (byte b : (byte[]) o) sb.append(String.format("%02X", b));
            return sb.toString();
        }
        return o.toString().replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r");
    }

    static void errors(SQLException e) throws SQLException {
        for (SQLException x = e; x != null; x = x.getNextException()) {
            System.out.println("ERR " + x.getErrorCode() + "\t" + clean(x.getMessage()));
        }
    }

    static void results(Statement st, boolean isResult) throws SQLException {
        while (true) {
            if (isResult) {
                ResultSet rs = st.getResultSet();
                ResultSetMetaData md = rs.getMetaData();
                StringBuilder cols = new StringBuilder("COLS");
                for (int i = 1; i <= md.getColumnCount(); i++) {
                    cols.append(i == 1 ? " " : "\t").append(md.getColumnName(i)).append(":").append(md.getColumnTypeName(i));
                    if (md.getScale(i) > 0) cols.append("(").append(md.getPrecision(i)).append(",").append(md.getScale(i)).append(")");
                }
                System.out.println(cols);
                while (rs.next()) {
                    StringBuilder row = new StringBuilder("ROW");
                    for (int i = 1; i <= md.getColumnCount(); i++) row.append(i == 1 ? " " : "\t").append(clean(rs.getObject(i)));
                    System.out.println(row);
                }
                rs.close();
            } else {
                int n = st.getUpdateCount();
                if (n == -1) break;
                System.out.println("COUNT " + n);
            }
            try {
                isResult = st.getMoreResults();
            } catch (SQLException e) {
                errors(e);
                isResult = false;
                if (st.getUpdateCount() == -1) break;
            }
        }
    }

    static void bind(PreparedStatement ps, String[] f, List<Integer> outs) throws SQLException {
        for (int i = 2; i < f.length; i++) {
            String p = f[i];
            int at = i - 1;
            if (p.startsWith("i:")) ps.setInt(at, Integer.parseInt(p.substring(2)));
            else if (p.startsWith("s:")) ps.setString(at, p.substring(2).replace("\\n", "\n"));
            else if (p.equals("o:int")) {
                ((CallableStatement) ps).registerOutParameter(at, Types.INTEGER);
                outs.add(at);
            } else throw new IllegalArgumentException("bad param " + p);
        }
    }

    public static void main(String[] args) throws Exception {
        Class.forName("net.sourceforge.jtds.jdbc.Driver");
        Connection c;
        try {
            c = DriverManager.getConnection(args[0], args[1], args[2]);
        } catch (SQLException e) {
            System.out.println("LOGINERR " + e.getErrorCode() + "\t" + clean(e.getMessage()));
            return;
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        String line;
        int n = 0;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) continue;
            String[] f = line.split("\t", -1);
            System.out.println("STEP " + n);
            try {
                switch (f[0]) {
                    case "batch": {
                        Statement st = c.createStatement();
                        boolean r;
                        try {
                            r = st.execute(f[1].replace("\\n", "\n"));
                        } catch (SQLException e) {
                            errors(e);
                            break;
                        }
                        results(st, r);
                        for (SQLWarning w = st.getWarnings(); w != null; w = w.getNextWarning()) {
                            System.out.println("INFO " + w.getErrorCode() + "\t" + clean(w.getMessage()));
                        }
                        st.close();
                        break;
                    }
                    case "query":
                    case "callout": {
                        List<Integer> outs = new ArrayList<>();
                        String sql = f[1].replace("\\n", "\n");
                        PreparedStatement ps = f[0].equals("query") ? c.prepareStatement(sql) : c.prepareCall(sql);
                        bind(ps, f, outs);
                        boolean r;
                        try {
                            r = ps.execute();
                        } catch (SQLException e) {
                            errors(e);
                            break;
                        }
                        results(ps, r);
                        for (int at : outs) System.out.println("OUT " + at + "\t" + clean(((CallableStatement) ps).getObject(at)));
                        ps.close();
                        break;
                    }
                    case "autocommit":
                        c.setAutoCommit(f[1].equals("1"));
                        break;
                    case "commit":
                        c.commit();
                        break;
                    case "rollback":
                        c.rollback();
                        break;
                    default:
                        throw new IllegalArgumentException("unknown step " + f[0]);
                }
            } catch (SQLException e) {
                errors(e);
            }
            System.out.println("END " + n);
            n++;
        }
        c.close();
    }
}

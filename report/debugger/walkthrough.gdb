# The debugger walkthrough of report/README.md section 8: the commands the section has you type
# at the (gdb) prompt, in its order, one per line. Every stop is a function's name, never a
# line number, so the walkthrough survives edits. report/scripts/debugger.sh runs this file:
#
#   rust-gdb -batch -x report/debugger/walkthrough.gdb --args target/debug/examples/router \
#       --quiet --no-log --public-ip 117.222.175.180 --port 0 --server-port 0
#
# starts a client when the router listens, presses Ctrl-C (SIGINT to the router's pid) once the
# client has its answer, and writes what gdb printed to report/debugger/walkthrough.txt.
# Typed by hand, the router is started with the same flags, without the last two (ports).

# Step 0: no line for each thread started or ended; stop where a client takes a slot (step 2
# of its thread) and where its row goes into the IP table (step 3).
set print thread-events off
break geotracker::router::RouterState::take_slot
break geotracker::iptable::IpTable::push
run

# Step 1 (a client connected): which threads there are, and how this one got here.
info threads
bt 3

# Step 2: the row, and the slot and turn this client was given (one frame up, in record).
continue
print row
up
print slot
print permit.turn

# Step 3: the client gets its answer; then Ctrl-C in gdb's terminal, which gdb keeps.
continue

# Step 4: pass the Ctrl-C on to the router, and see which thread acts on it.
break geotracker::signal::Shutdown::request
signal SIGINT
bt 2

# Step 5: the router's table, printed once the clients in have been served; then stop.
break geotracker::signal::dump<geotracker::iptable::RouterEntry>
continue
finish
kill

// The store manager's back office at the till: returns, stock, receiving, transfers,
// stocktake, settlement and the branch's reports.
"use strict";

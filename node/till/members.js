// Members and cards at the till (Till.section "members").
"use strict";
